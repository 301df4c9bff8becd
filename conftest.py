"""Options, markers, device and data fixtures for the whole suite.

pytest                      # unit tests + claims at lecture and smoke scale, on the CPU
pytest -m "not slow"        # unit tests + claims at smoke scale (a few minutes)
pytest -m gpu -n 4          # the CUDA twins, one GPU per worker where there are several
pytest --seeds 0 1 2 3 4    # judge the claims over more seeds
"""

from __future__ import annotations

import os
import platform
import random

import numpy
import pytest
import torch
import torchvision

from reproduce import data, experiments
from reproduce.results import RunCache
from reproduce.study import Study, study_configs

DEFAULT_SEEDS = (0, 1, 2)
NO_CUDA = "CUDA is not available on this machine; the gpu-marked twin runs where it is"


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
        choices=("all", "lecture", "smoke"),
        default="all",
        help="scales to judge the claims at (default: all; lecture is marked slow)",
    )
    group.addoption(
        "--seeds",
        type=int,
        nargs="+",
        default=list(DEFAULT_SEEDS),
        help="seeds to judge the claims over (default: 0 1 2)",
    )
    group.addoption(
        "--data-dir",
        default=None,
        help=f"folder holding MNIST/raw and FashionMNIST/raw (default: ${data.ENV_VAR})",
    )
    group.addoption(
        "--run-cache",
        default=None,
        help="folder for trained runs shared by tests and workers (default: pytest's cache)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CUDA; skipped with a reason where absent")
    config.addinivalue_line("markers", "slow: lecture-scale training (minutes)")
    # One intra-op thread in every test process, xdist worker or not: at lecture scale a run
    # with 2 threads drifts from one with 1 thread by more than the baselines' tolerances
    # (measured, seeds 0-2: train_loss rel 2.3e-5, ssim_lecture 1.2e-4, ssim 1.6e-5, mae 2.1e-6
    # after 6000 steps), so the thread count is fixed and parallelism comes from `-n`.
    torch.set_num_threads(1)


def pytest_report_header(config):
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    root = data.resolve_data_dir(config.getoption("--data-dir"))
    return [
        f"reproduce: python {platform.python_version()}, torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, cuda device: {cuda}",
        f"reproduce: data dir {root}, seeds {config.getoption('--seeds')}, "
        f"scale {config.getoption('--scale')}, device {config.getoption('--device')}",
    ]


def cpu_and_cuda(config):
    """``cpu`` plainly and ``cuda`` with the gpu marker, filtered by --device."""
    chosen = config.getoption("--device")
    params = []
    if chosen in ("all", "cpu"):
        params.append(pytest.param("cpu", id="cpu"))
    if chosen in ("all", "cuda"):
        params.append(pytest.param("cuda", id="cuda", marks=pytest.mark.gpu))
    return params


def scales(config):
    """``lecture`` (marked slow) and ``smoke``, filtered by --scale."""
    chosen = config.getoption("--scale")
    params = []
    if chosen in ("all", "lecture"):
        params.append(pytest.param("lecture", id="lecture", marks=pytest.mark.slow))
    if chosen in ("all", "smoke"):
        params.append(pytest.param("smoke", id="smoke"))
    return params


def pytest_generate_tests(metafunc):
    # A test that asks for `device` runs on the CPU and has a gpu-marked CUDA twin;
    # one that asks for `scale` runs at each chosen scale.
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", cpu_and_cuda(metafunc.config), indirect=True)
    if "scale" in metafunc.fixturenames:
        metafunc.parametrize("scale", scales(metafunc.config))


@pytest.fixture
def device(request):
    """The torch device string; CUDA skips where absent and is pinned per xdist worker."""
    if request.param == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        pytest.skip(NO_CUDA)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0) % torch.cuda.device_count()
    return f"cuda:{index}"


@pytest.fixture(autouse=True)
def rng_guard():
    """Save and restore every RNG around each test, so no test's randomness leaks into another."""
    states = (random.getstate(), numpy.random.get_state(), torch.get_rng_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    yield
    random.setstate(states[0])
    numpy.random.set_state(states[1])
    torch.set_rng_state(states[2])
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


@pytest.fixture(scope="session")
def data_dir(pytestconfig):
    """The verified MNIST folder; skips (naming how to provide it) where the files are absent.

    A damaged file is an error, not a skip: it names the file and its checksum.
    """
    root = data.resolve_data_dir(pytestconfig.getoption("--data-dir"))
    spec = data.DATASETS["mnist"]
    if not (root / spec.folder / "raw").is_dir():
        pytest.skip(f"MNIST not found under {root}. {data.how_to_provide('mnist', root)}")
    data.verify("mnist", root)
    return root


@pytest.fixture(scope="session")
def run_cache(pytestconfig):
    folder = pytestconfig.getoption("--run-cache")
    if folder is None:
        cache = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider
        folder = cache.mkdir("reproduce-runs") if cache else data.default_data_dir().parent / "runs"
    return RunCache(folder)


@pytest.fixture(scope="session")
def seeds(pytestconfig):
    chosen = pytestconfig.getoption("--seeds")
    if len(chosen) < 2:
        raise pytest.UsageError(f"expected at least 2 --seeds to judge spread, got {chosen}")
    return tuple(chosen)


@pytest.fixture(scope="session")
def study_of(run_cache, data_dir, seeds):
    """``study_of(scale, device, families)``: the study's runs over --seeds, each trained once.

    Runs are cached on disk with a lock per run, so xdist workers share them and never train
    the same run twice.
    """

    def get(scale: str, device: str, families) -> Study:
        configs = study_configs(seeds, scale=scale, device=device, families=families)
        return Study.of(run_cache.ensure(configs, lambda c: experiments.run(c, data_dir)))

    return get
