"""Markers, device and data fixtures for the whole suite; its options are reproduce/pytest_options.py.

pytest                      # unit tests + claims at lecture and smoke scale, on the CPU
pytest -m "not slow"        # unit tests + claims at smoke scale (a few minutes)
pytest -m gpu -n auto       # the CUDA twins, one worker per visible GPU
pytest --seeds 0 1 2 3 4    # judge the claims over more seeds
pytest --dataset fashion-mnist   # the study on Fashion-MNIST at every scale (lecture is slow)
"""

from __future__ import annotations

import os
import platform
import random
from types import MappingProxyType

import numpy
import pytest
import torch
import torchvision
from _pytest.mark.expression import Expression

from reproduce.training import data, devices  # devices pins CUDA's numerics on import
from reproduce.training.config import LECTURE_DATASET, QUICK_SCALE, SCALES
from reproduce.training.datasets import DATASETS
from reproduce.training.results import RunCache, default_cache_dir
from reproduce.training.study import Study, train_study

# The baseline fixture (baselines_plugin/) and the options --device, --seeds, --run-cache ...
# (reproduce/pytest_options.py; registered once, by the installed plugin where it ran first).
pytest_plugins = ["baselines_plugin.plugin", "reproduce.pytest_options"]

NO_CUDA = "CUDA is not available here ({reason}); the gpu-marked twin runs where it is"


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CUDA; skipped with a reason where absent")
    config.addinivalue_line("markers", "slow: lecture-scale training (minutes)")
    # One intra-op thread in every test process, xdist worker or not: at lecture scale a run
    # with 2 threads drifts from one with 1 thread by more than the baselines' tolerances
    # (measured, seeds 0-2: train_loss rel 2.3e-5, ssim_lecture 1.2e-4, ssim 1.6e-5, mae 2.1e-6
    # after 6000 steps), so the thread count is fixed and parallelism comes from `-n`.
    torch.set_num_threads(1)
    # Before any test's first CUDA call (CUDA reads them once per process); importing
    # reproduce.training.devices did it already, again here in case a plugin has changed them since.
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
        f"scale {config.getoption('--scale')}, dataset {config.getoption('--dataset')}, "
        f"device {config.getoption('--device')}",
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


def settings(config):
    """(dataset, scale) pairs, filtered by --dataset and --scale; every slow scale marked slow.

    By default the lecture's dataset runs at every scale and the others at the quick scale
    only: what the lecture says is judged in full, and every other dataset proves it still runs
    the whole study.
    """
    chosen_scale, chosen_dataset = config.getoption("--scale"), config.getoption("--dataset")
    params = []
    for dataset in DATASETS:
        if chosen_dataset not in ("default", "all", dataset):
            continue
        for scale in SCALES:
            quick_only = chosen_dataset == "default" and dataset != LECTURE_DATASET
            if chosen_scale not in ("all", scale) or (quick_only and scale != QUICK_SCALE):
                continue
            marks = () if scale == QUICK_SCALE else pytest.mark.slow
            params.append(pytest.param(dataset, scale, id=f"{scale}-{dataset}", marks=marks))
    return params


def pytest_generate_tests(metafunc):
    # A test that asks for `device` runs on the CPU and has a gpu-marked CUDA twin;
    # one that asks for `dataset` and `scale` runs in each chosen setting.
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", cpu_and_cuda(metafunc.config), indirect=True)
    if {"dataset", "scale"} <= set(metafunc.fixturenames):
        metafunc.parametrize("dataset,scale", settings(metafunc.config))


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
def data_root(pytestconfig):
    return data.resolve_data_dir(pytestconfig.getoption("--data-dir"))


@pytest.fixture(scope="session")
def data_dir(data_root):
    """The data root, with the lecture's dataset verified (skips where it is absent)."""
    verified(LECTURE_DATASET, data_root)
    return data_root


def verified(dataset: str, root) -> None:
    """Skip (saying how to provide it) where the dataset's files are absent; fail if damaged.

    A damaged file is an error, not a skip: it names the file and its checksum.
    """
    if not (root / DATASETS[dataset].folder / "raw").is_dir():
        pytest.skip(f"{dataset} not found under {root}. {data.how_to_provide(dataset, root)}")
    data.verify(dataset, root)


@pytest.fixture(scope="session")
def run_cache(pytestconfig):
    return RunCache(pytestconfig.getoption("--run-cache") or default_cache_dir())


@pytest.fixture(scope="session")
def seeds(pytestconfig):
    chosen = pytestconfig.getoption("--seeds")
    if len(chosen) < 2:
        raise pytest.UsageError(f"expected at least 2 --seeds to judge spread, got {chosen}")
    return tuple(chosen)


@pytest.fixture(scope="session")
def study_of(run_cache, data_root, seeds):
    """``study_of(dataset, scale, device, families)``: the study's runs over --seeds, each trained once.

    Runs are cached on disk with a lock per run, so xdist workers share them and never train
    the same run twice.
    """

    def get(
        dataset: str, scale: str, device: str, families, *, over=None, recipe=MappingProxyType({})
    ) -> Study:
        """``over``: other seeds than --seeds (the baselines' reference distribution); ``recipe``:
        RunConfig fields that differ from the study's (e.g. the notebook's unfused Adam)."""
        verified(dataset, data_root)
        return train_study(
            over or seeds,
            data_dir=data_root,
            cache=run_cache,
            scale=scale,
            dataset=dataset,
            device=device,
            families=families,
            recipe=recipe,
        )

    return get
