"""Options, markers, device and data fixtures for the whole suite.

pytest                      # unit tests + claims at lecture and smoke scale, on the CPU
pytest -m "not slow"        # unit tests + claims at smoke scale (a few minutes)
pytest -m gpu -n auto       # the CUDA twins, one worker per visible GPU
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
from _pytest.mark.expression import Expression

from reproduce import data, devices, experiments  # devices pins CUDA's numerics on import
from reproduce.results import RunCache
from reproduce.study import Study, study_configs

pytest_plugins = ["baselines_plugin.plugin"]  # the baseline fixture; see baselines_plugin/

DEFAULT_SEEDS = (0, 1, 2)
NO_CUDA = "CUDA is not available here ({reason}); the gpu-marked twin runs where it is"


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
    # Before any test's first CUDA call (CUDA reads them once per process); importing
    # reproduce.devices did it already, again here in case a plugin has changed them since.
    devices.pin_cuda_numerics()
    if devices.cuda_required() and not hasattr(config, "workerinput"):  # the controller counts
        config.pluginmanager.register(GpuTestsRan(), "reproduce-gpu-tests-ran")


class GpuTestsRan:
    """Under REPRODUCE_REQUIRE_CUDA=1 a session in which no gpu-marked test ran fails.

    Twins that all skip (no data, no baselines, a filter) would otherwise turn the gpu env
    green without one test having run on a GPU.
    """

    def __init__(self):
        self.ran, self.message = 0, ""

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and not report.skipped and "gpu" in report.keywords:
            self.ran += 1

    def pytest_sessionfinish(self, session):
        if self.ran == 0:
            self.message = (
                f"{devices.REQUIRE_CUDA_VAR}=1, but no gpu-marked test ran (all skipped or "
                "deselected; see the reasons above)"
            )
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        if self.message:
            terminalreporter.write_line(f"ERROR: {self.message}", red=True, bold=True)


def only_gpu_tests(config) -> bool:
    """Whether the session runs CUDA twins only: ``--device cuda``, or a ``-m`` that selects a
    gpu-marked test and not an unmarked one (``-m gpu``, ``-m "gpu and not slow"``)."""
    if config.getoption("--device") == "cuda":
        return True
    try:
        expression = Expression.compile(config.getoption("markexpr") or "")
    except SyntaxError:  # pytest reports it
        return False
    return expression.evaluate(lambda name, **_: name == "gpu") and not expression.evaluate(
        lambda name, **_: False
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """``-n auto`` on CUDA twins only: one worker per visible GPU (CUDA_VISIBLE_DEVICES honoured),
    not one per CPU, which would put many CUDA contexts and datasets on one card."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or not only_gpu_tests(config):
        return None  # xdist's own count
    return torch.cuda.device_count()


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
    """The torch device string: ``cpu``, or this xdist worker's card (see cuda_device)."""
    if request.param == "cpu":
        return "cpu"
    return cuda_device(os.environ.get("PYTEST_XDIST_WORKER"))


def cuda_device(worker: str | None) -> str:
    """The worker's card, made current. Skips where CUDA is absent, or fails under
    REPRODUCE_REQUIRE_CUDA=1; fails (one line) on settings a CUDA run refuses, e.g. TF32."""
    try:
        device = devices.worker_device(worker)
        devices.check(device)
    except devices.CudaAbsent as absent:
        if devices.cuda_required():
            required = f"{devices.REQUIRE_CUDA_VAR}=1"
            pytest.fail(f"{required}, but CUDA is not available here: {absent}", pytrace=False)
        pytest.skip(NO_CUDA.format(reason=absent))
    except devices.DeviceError as error:
        pytest.fail(str(error), pytrace=False)
    torch.cuda.set_device(device)  # what uses "the current device" uses this worker's card
    return device


@pytest.fixture(autouse=True)
def rng_guard():
    """Save and restore every RNG around each test, so no test's randomness leaks into another."""
    states = (random.getstate(), numpy.random.get_state(), torch.get_rng_state())
    # Only where CUDA is already up: initialising it here would put a context on every card
    # in every worker (CPU tests included); nothing in the package draws from CUDA's RNG.
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
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
