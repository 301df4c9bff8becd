"""CUDA without a GPU (issue 12): torch.cuda is faked to test a card's identity, its baseline
folder, the worker count, the refusals and the CLI's one-line errors. What only a real GPU can
tell (bits, speed, memory) is in tools/gpu-check."""

import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from reproduce import cli
from reproduce.training import devices, experiments, stacked
from reproduce.training.config import RunConfig
from reproduce.training.results import History, RunCache, RunResult, cache_identity, environment


def card(name, major, minor, sms, gib=80):
    return SimpleNamespace(
        name=name, major=major, minor=minor, multi_processor_count=sms, total_memory=gib * 2**30
    )


H100 = card("NVIDIA H100 80GB HBM3", 9, 0, 132)
H100_FEWER_SMS = card("NVIDIA H100 80GB HBM3", 9, 0, 114)  # same name, a cut-down part
A100 = card("NVIDIA A100-SXM4-40GB", 8, 0, 108, gib=40)
H100_ID, A100_ID = "nvidia-h100-80gb-hbm3-cc90-132sm", "nvidia-a100-sxm4-40gb-cc80-108sm"


@pytest.fixture(autouse=True)
def numerics(monkeypatch):
    """The settings a CUDA run accepts, and no CUDA env from the calling shell."""
    monkeypatch.setenv(devices.WORKSPACE_VAR, devices.WORKSPACE)
    for name in (devices.TF32_OVERRIDE_VAR, devices.REQUIRE_CUDA_VAR, "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cards(monkeypatch):
    """``cards(H100, A100)``: torch.cuda sees these cards, cuda:0 first; ``cards()``: none.

    Returns the list that records ``torch.cuda.set_device`` calls.
    """
    made_current = []

    def install(*props):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: bool(props))
        monkeypatch.setattr(torch.cuda, "device_count", lambda: len(props))
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props[index])
        monkeypatch.setattr(torch.cuda, "set_device", made_current.append)
        return made_current

    return install


# Know the card (defect 1)


def test_baseline_folder_is_cpu_or_the_cards_model(cards):
    cards(A100, H100, H100)
    assert devices.baseline_folder("cpu") == "cpu"
    assert devices.baseline_folder("cuda:0") == devices.baseline_folder("cuda") == f"cuda/{A100_ID}"
    assert devices.baseline_folder("cuda:1") == devices.baseline_folder("cuda:2") == f"cuda/{H100_ID}"


def test_without_cuda_a_cuda_baseline_folder_is_one_that_holds_none(cards):
    cards()
    assert devices.baseline_folder("cuda") == devices.baseline_folder("cuda:1") == "cuda/none"


def test_a_card_with_the_same_name_and_fewer_sms_is_another_model(cards):
    cards(H100, H100_FEWER_SMS)
    assert devices.model_id("cuda:0") == H100_ID
    assert devices.model_id("cuda:1") == "nvidia-h100-80gb-hbm3-cc90-114sm"


def test_cache_identity_names_the_model_never_the_index(cards):
    cards(A100, H100, H100)
    assert cache_identity("cuda:1") == cache_identity("cuda:2")
    assert H100_ID in cache_identity("cuda:1") and A100_ID in cache_identity("cuda:0")
    assert len({cache_identity("cpu"), cache_identity("cuda:0"), cache_identity("cuda:1")}) == 3


@pytest.mark.parametrize(
    "change",
    [
        lambda mp: mp.setattr(devices, "_cublas_version", lambda: "12.0.0"),
        lambda mp: mp.setattr(torch.version, "cuda", "11.8"),
        lambda mp: mp.setenv(devices.WORKSPACE_VAR, ":16:8"),
        lambda mp: mp.setattr(torch, "get_float32_matmul_precision", lambda: "high"),
    ],
    ids=["cublas", "cuda", "workspace", "matmul-precision"],
)
def test_cache_identity_changes_with_what_decides_cudas_bits(cards, monkeypatch, change):
    cards(H100)
    before = cache_identity("cuda:0")
    change(monkeypatch)
    assert cache_identity("cuda:0") != before


def fake_result(config):
    history = History(untrained={"accuracy": 10.0})
    history.record(0.5, {"accuracy": 90.0})
    return RunResult(config, {loss: history for loss in config.losses}, {}, 0.1)


@pytest.mark.parametrize(("pair", "trainings"), [((H100, H100), 1), ((A100, H100), 2)], ids=["same", "other"])
def test_workers_share_a_run_on_identical_cards_only(cards, tmp_path, pair, trainings):
    cards(*pair)
    cache, trained = RunCache(tmp_path), []

    def train(config):
        trained.append(config.device)
        return fake_result(config)

    for device in ("cuda:0", "cuda:1"):  # gw0 and gw1, each on its own card
        cache.ensure([RunConfig.at_scale("classification", "smoke", device=device)], train)
    assert len(trained) == trainings


def test_a_cuda_run_records_the_card_and_its_numerics(cards):
    cards(A100, H100)
    env = environment("cuda:1")
    assert env["device"] == "cuda:1" and env["device_name"] == H100.name
    assert (env["gpu_model"], env["compute_capability"], env["sm_count"]) == (H100_ID, "9.0", "132")
    assert env["cuda"] == str(torch.version.cuda) and env["cublas"]
    assert (env["matmul_precision"], env["cublas_workspace_config"]) == ("highest", ":4096:8")
    assert "gpu_model" not in environment("cpu")


# Refuse to pass empty, workers = GPUs (defects 2 and 3): the root conftest's logic


@pytest.fixture
def root_conftest(pytestconfig):
    return pytestconfig.pluginmanager.get_plugin(str(pytestconfig.rootpath / "conftest.py"))


def test_each_worker_takes_its_own_card_and_makes_it_current(cards, root_conftest):
    made_current = cards(H100, H100)
    assert [devices.worker_device(w) for w in (None, "gw0", "gw1", "gw2")] == [
        "cuda:0",
        "cuda:0",
        "cuda:1",
        "cuda:0",
    ]
    assert root_conftest.cuda_device("gw1") == "cuda:1" and made_current == ["cuda:1"]


def test_a_cuda_twin_skips_without_cuda_and_fails_when_cuda_is_required(cards, root_conftest, monkeypatch):
    cards()
    with pytest.raises(pytest.skip.Exception, match="CUDA is not available here"):
        root_conftest.cuda_device("gw0")
    monkeypatch.setenv(devices.REQUIRE_CUDA_VAR, "1")
    with pytest.raises(pytest.fail.Exception, match="REPRODUCE_REQUIRE_CUDA=1, but CUDA is not available"):
        root_conftest.cuda_device("gw0")


def test_a_cuda_twin_fails_under_a_tf32_override(cards, root_conftest, monkeypatch):
    cards(H100)
    monkeypatch.setenv(devices.TF32_OVERRIDE_VAR, "1")
    with pytest.raises(pytest.fail.Exception, match="TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1"):
        root_conftest.cuda_device("gw0")


@pytest.mark.parametrize(
    ("markexpr", "device_option", "workers"),
    [
        ("gpu", "all", 4),
        ("gpu and not slow", "all", 4),
        ("", "cuda", 4),
        ("not slow", "all", None),
        ("", "all", None),
        ("gpu or not gpu", "all", None),
    ],
)
def test_n_auto_starts_one_worker_per_gpu_for_gpu_tests_only(
    cards, root_conftest, markexpr, device_option, workers
):
    cards(H100, H100, H100, H100)
    options = {"markexpr": markexpr, "--device": device_option}
    config = SimpleNamespace(getoption=options.__getitem__)
    assert root_conftest.pytest_xdist_auto_num_workers(config) == workers


def pytest_in_subprocess(*args, **env):
    """The real suite's conftest in a fresh process, CUDA hidden even on a machine with a GPU."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
        env=os.environ | {"CUDA_VISIBLE_DEVICES": "", **env},
        timeout=300,
    )


ONE_TWIN = ("-m", "gpu", "tests/test_experiments.py", "-k", "bit_identical and regression")


def test_the_gpu_env_fails_without_cuda_and_when_no_gpu_test_ran(data_dir, tmp_path):
    skipped = pytest_in_subprocess(*ONE_TWIN)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
    no_cuda = pytest_in_subprocess(*ONE_TWIN, REPRODUCE_REQUIRE_CUDA="1")
    assert no_cuda.returncode == 1, no_cuda.stdout
    assert "REPRODUCE_REQUIRE_CUDA=1, but CUDA is not available here" in no_cuda.stdout
    # No data: the twin skips before it asks for CUDA, so nothing ran on a GPU.
    no_data = pytest_in_subprocess(*ONE_TWIN, REPRODUCE_REQUIRE_CUDA="1", REPRODUCE_DATA_DIR=str(tmp_path))
    assert no_data.returncode == 1, no_data.stdout
    assert "REPRODUCE_REQUIRE_CUDA=1, but no gpu-marked test ran" in no_data.stdout


# TF32 and cuBLAS settings (defects 4 and 5)


def test_the_package_pins_the_cublas_workspace_on_import():
    env = {k: v for k, v in os.environ.items() if k != devices.WORKSPACE_VAR}
    code = "import os, reproduce.training.results; print(os.environ['CUBLAS_WORKSPACE_CONFIG'])"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert shown.stdout.strip() == devices.WORKSPACE


def test_pinning_sets_fp32_matmuls_and_keeps_an_exported_workspace_for_check_to_refuse(monkeypatch):
    monkeypatch.setenv(devices.WORKSPACE_VAR, ":16:8")
    torch.set_float32_matmul_precision("high")
    devices.pin_cuda_numerics()
    assert torch.get_float32_matmul_precision() == "highest"
    assert os.environ[devices.WORKSPACE_VAR] == ":16:8"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda mp: mp.setenv(devices.TF32_OVERRIDE_VAR, "1"), "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1 makes"),
        (lambda mp: mp.setenv(devices.WORKSPACE_VAR, ":16:8"), "CUBLAS_WORKSPACE_CONFIG=':16:8', but"),
        (lambda mp: mp.setenv(devices.WORKSPACE_VAR, ":0:0"), "CUBLAS_WORKSPACE_CONFIG=':0:0', but"),
        (lambda mp: mp.delenv(devices.WORKSPACE_VAR), "CUBLAS_WORKSPACE_CONFIG=None, but"),
        (lambda mp: mp.setattr(torch, "get_float32_matmul_precision", lambda: "high"), "precision is 'high'"),
    ],
    ids=["tf32-override", "other-workspace", "bad-workspace", "no-workspace", "matmul-precision"],
)
def test_a_cuda_run_refuses_tf32_and_other_cublas_settings(cards, monkeypatch, change, message):
    cards(H100)
    devices.check("cuda:0")  # accepted as pinned
    change(monkeypatch)
    with pytest.raises(devices.DeviceError, match=re.escape(message)):
        devices.check("cuda:0")
    devices.check("cpu")  # the CPU is never refused


def test_tf32_override_set_to_off_is_accepted(cards, monkeypatch):
    cards(H100)
    monkeypatch.setenv(devices.TF32_OVERRIDE_VAR, "0")
    devices.check("cuda:0")


def test_a_refused_run_stops_before_it_reads_any_data(cards, monkeypatch, tmp_path):
    cards(H100)
    monkeypatch.setenv(devices.TF32_OVERRIDE_VAR, "1")
    config = RunConfig.at_scale("regression", "smoke", device="cuda:0")
    with pytest.raises(devices.DeviceError, match="TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"):
        experiments.run(config, tmp_path)  # an empty data dir: a DataError if it got that far


# GPU errors in the CLI are one line with exit code 2 (defect 7)


def one_line_error(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_cli_names_a_device_ordinal_that_is_not_there(cards, capsys, tmp_path):
    cards(H100)
    err = one_line_error(
        capsys, "run", "regression", "--device", "cuda:7", "--data-dir", tmp_path, "--out", tmp_path
    )
    assert "device 'cuda:7' asked for, but 1 CUDA device(s) are visible; use one of cuda:0..cuda:0" in err


def test_cli_names_the_tf32_override(cards, capsys, tmp_path, monkeypatch):
    cards(H100)
    monkeypatch.setenv(devices.TF32_OVERRIDE_VAR, "yes")
    err = one_line_error(capsys, "claims", "--device", "cuda", "--data-dir", tmp_path, "--out", tmp_path)
    assert "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=yes" in err and "unset it" in err


@pytest.mark.parametrize(
    ("schedule", "where", "what"),
    [
        ("per-run", experiments, "regression-mnist-smoke-seed0"),
        ("stacked", stacked, "a stack of 1 regression runs (fewer --seeds or --schedule per-run need less)"),
    ],
)
def test_cli_out_of_memory_names_the_run_and_what_to_lower(
    schedule, where, what, cards, capsys, data_dir, tmp_path, monkeypatch
):
    cards(A100)

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(where, "_run" if schedule == "per-run" else "_run_stack", out_of_memory)
    argv = ("run", "regression", "--scale", "smoke", "--device", "cuda:0", "--schedule", schedule)
    err = one_line_error(capsys, *argv, "--data-dir", data_dir, "--out", tmp_path, "--no-progress")
    assert f"{what}: out of memory on cuda:0 (NVIDIA A100-SXM4-40GB, 40 GiB)" in err
    assert "lower --scale to smoke" in err


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            RuntimeError(
                "Deterministic behavior was enabled with either `torch.use_deterministic_algorithms(True)`"
                " ... you must set an environment variable before running your PyTorch application:"
                " CUBLAS_WORKSPACE_CONFIG=:4096:8 or CUBLAS_WORKSPACE_CONFIG=:16:8.\nFor more ..."
            ),
            "CUBLAS_WORKSPACE_CONFIG must be ':4096:8' before the process's first CUDA call",
        ),
        (
            RuntimeError("CUDA error: an illegal memory access was encountered\nCUDA kernel errors ..."),
            "CUDA failed: CUDA error: an illegal memory access was encountered",
        ),
    ],
    ids=["cublas-config", "cuda-error"],
)
def test_cli_cuda_runtime_errors_are_one_line(capsys, tmp_path, data_dir, monkeypatch, error, message):
    def fail(config, data_dir, **kwargs):
        raise error

    monkeypatch.setattr(experiments, "run", fail)
    argv = ("run", "regression", "--scale", "smoke", "--data-dir", data_dir, "--out", tmp_path)
    assert message in one_line_error(capsys, *argv)


def test_cli_other_runtime_errors_keep_their_traceback(capsys, tmp_path, data_dir, monkeypatch):
    def bug(config, data_dir, **kwargs):
        raise RuntimeError("shape mismatch in a bug")

    monkeypatch.setattr(experiments, "run", bug)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        cli.main(
            ["run", "regression", "--scale", "smoke", "--data-dir", str(data_dir), "--out", str(tmp_path)]
        )


def test_gpu_check_refuses_to_start_without_the_data(tmp_path):
    script = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "gpu-check")
    env = {k: v for k, v in os.environ.items() if k != "REPRODUCE_DATA_DIR"}
    done = subprocess.run([script, str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "set REPRODUCE_DATA_DIR" in done.stderr
