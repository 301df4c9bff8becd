"""The project's side of the baselines plugin (baselines_plugin/, loaded by the root conftest)."""

from __future__ import annotations

from reproduce.training.config import LECTURE_DATASET, QUICK_SCALE, SCALES
from reproduce.training.datasets import DATASETS


def pytest_baselines_narrowing(config):
    """The root conftest's options that leave tests out, and the values they choose from."""
    return {"--device": ("cpu", "cuda"), "--scale": tuple(SCALES), "--dataset": tuple(DATASETS)}


def pytest_baselines_in_scope(config, relative):
    """Under ``--dataset default`` the other datasets run at the quick scale only (root conftest's
    ``settings``), so their baselines at other scales are out of this session's scope."""
    if config.getoption("--dataset") != "default":
        return None
    # e.g. baselines/cpu/fashion-mnist/test_baselines/test_curves[cpu-lecture-fashion-mnist-regression].json
    other_dataset = any(f"/{name}/" in relative for name in DATASETS if name != LECTURE_DATASET)
    slow_scale = any(f"-{scale}-" in relative for scale in SCALES if scale != QUICK_SCALE)
    return False if other_dataset and slow_scale else None
