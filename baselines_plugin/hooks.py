"""Hooks a project implements in a conftest.py to fit the baselines plugin to its own options."""

from __future__ import annotations

import pytest


@pytest.hookspec
def pytest_baselines_narrowing(config: pytest.Config):
    """The project's options that leave parametrizations out, each with the values it picks from.

    Return a mapping such as ``{"--scale": ("lecture", "smoke")}``; the answers of all
    implementations are merged. An option set to one of its values (or to a list of them)
    rules out the baselines whose path names another of its values, as a whole name between
    ``/ [ ] - .`` (the longest value wins, so ``fashion-mnist`` is not read as ``mnist``). Those
    tests were never generated, so syrupy would otherwise call their baselines unused and delete
    them under ``--snapshot-update`` in a run like ``pytest --scale smoke``. An option set to
    anything else (``all``, ``default``) narrows nothing.
    """


@pytest.hookspec(firstresult=True)
def pytest_baselines_folder(item: pytest.Item) -> str:
    """The folder under ``baselines/`` that holds this test's baselines, ``/`` between levels.

    The plugin's own implementation (the last tried) gives the folder of the test's ``device``
    parameter (``reproduce.training.devices.baseline_folder``: ``cpu``, or CUDA's own, which may be more
    than one level), then its ``dataset`` parameter: ``cpu/mnist``. It is also asked for tests
    that take no baseline, which get a folder that never holds one.
    """


@pytest.hookspec(firstresult=True)
def pytest_baselines_in_scope(config: pytest.Config, relative: str) -> bool | None:
    """False where the project's options leave out the baseline at ``relative`` (a path from
    the rootdir), for rules a list of option values cannot say (e.g. "this dataset at that
    scale only"); None to leave the decision to ``pytest_baselines_narrowing``."""
