"""The project's side of the baselines plugin (baselines_plugin/, loaded by the root conftest)."""

from __future__ import annotations

from reproduce.config import SCALES


def pytest_baselines_narrowing(config):
    """The root conftest's options that leave tests out, and the values they choose from."""
    return {"--device": ("cpu", "cuda"), "--scale": tuple(SCALES)}
