"""The test suite's command-line options (``--device``, ``--seeds``, ``--run-cache`` ...), defined once.

A pytest plugin, registered by name ``reproduce.pytest_options``: early by the entry point
(``reproduce/pytest_plugin.py``) in this repository's sessions, so that ``--run-cache DIR`` works
with a space; else by the root conftest's ``pytest_plugins`` (plugin autoload off), where only
``--run-cache=DIR`` is safe. Either way it is registered once.
"""

from __future__ import annotations

from reproduce.training import data
from reproduce.training.config import DEFAULT_SEEDS, LECTURE_DATASET, QUICK_SCALE, SCALES
from reproduce.training.datasets import DATASETS
from reproduce.training.results import default_cache_dir


def pytest_addoption(parser):
    group = parser.getgroup("reproduce")
    group.addoption(
        "--device",
        choices=("all", "cpu", "cuda"),
        default="all",
        help="devices to parametrize over (default: all; cuda twins skip where absent)",
    )
    group.addoption(
        "--scale",
        choices=("all", *SCALES),
        default="all",
        help=f"scales to judge the claims at (default: all; all but {QUICK_SCALE} are marked slow)",
    )
    group.addoption(
        "--dataset",
        choices=("default", "all", *DATASETS),
        default="default",
        help=f"datasets to train the study on (default: {LECTURE_DATASET} at every scale, "
        f"the others at {QUICK_SCALE} scale only)",
    )
    group.addoption(
        "--seeds",
        type=int,
        nargs="+",
        default=list(DEFAULT_SEEDS),
        help=f"seeds to judge the claims over (default: {' '.join(map(str, DEFAULT_SEEDS))})",
    )
    group.addoption(
        "--data-dir",
        default=None,
        help=f"folder holding MNIST/raw and FashionMNIST/raw (default: ${data.ENV_VAR})",
    )
    group.addoption(
        "--mistakes-at-lecture-scale",
        action="store_true",
        help="also train tests/test_tiers.py's smallest mistakes at lecture scale (about 20 minutes)",
    )
    group.addoption(
        "--run-cache",
        default=None,
        help=f"folder for trained runs shared by tests, workers and the CLI (default: {default_cache_dir()})",
    )
