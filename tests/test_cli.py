"""The command line: results and figures on success, one clear line and exit 2 on bad input."""

import ast
import configparser
import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import local_mirror
import pytest
import torch
import yaml

from reproduce import cli
from reproduce.training import data, experiments
from reproduce.training.config import TORCH_FLOOR
from reproduce.training.results import write_json_atomic
from reproduce.training.train import TrainingDiverged

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Tests never use the internet: a missing file's download goes to a closed local port."""
    return local_mirror.unreachable(monkeypatch)


@contextlib.contextmanager
def umask(mask):
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_writes_one_json_per_run_and_the_lectures_figures(data_dir, tmp_path, capsys):
    smoke = "--scale smoke --epochs 1 --seeds 0 1 --no-progress".split()
    with umask(0o027):
        code, out, err = run_cli(capsys, "run", "all", *smoke, "--data-dir", data_dir, "--out", tmp_path)
    assert code == 0, err
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == [f"{e}-mnist-smoke-seed{s}.json" for e in ("classification", "regression") for s in (0, 1)]
    saved = json.loads((tmp_path / "runs" / "regression-mnist-smoke-seed1.json").read_text())
    assert saved["config"]["epochs"] == 1 and saved["config"]["seed"] == 1
    assert set(saved["histories"]) == {"mse", "l1"}
    assert saved["environment"]["threads"] == "1"  # one thread per run, in each worker process
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert figures == {
        "regression-loss.png",
        "regression-ssim.png",
        "regression-mae.png",
        "classification-loss.png",
        "classification-accuracy.png",
    }
    written = [*(tmp_path / "runs").iterdir(), *(tmp_path / "figures").iterdir()]
    assert {p.name: mode(p) for p in written} == {p.name: 0o640 for p in written}  # as the umask says


def test_runs_in_worker_processes_equal_runs_in_this_one(data_dir, tmp_path, capsys):
    """Every run trains with one thread wherever it trains, so 2 processes give 1 process's bits."""
    smoke = "--scale smoke --epochs 1 --seeds 0 1 --no-progress".split()
    histories = {}
    for workers in ("1", "2"):
        out = tmp_path / workers
        argv = ["run", "classification", *smoke, "--workers", workers, "--data-dir", data_dir, "--out", out]
        code, _, err = run_cli(capsys, *argv)
        assert code == 0, err
        histories[workers] = {
            p.name: json.loads(p.read_text())["histories"] for p in (out / "runs").iterdir()
        }
    assert len(histories["1"]) == 2 and histories["2"] == histories["1"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", "regression", "--epochs", "-3"],
            "argument --epochs: expected a number >= 1, got -3",
        ),
        (
            ["run", "regression", "--epochs", "two"],
            "argument --epochs: expected a whole number, got 'two'",
        ),
        (["run", "regression", "--seeds", "-1"], "argument --seeds: expected a seed >= 0, got -1"),
        (["run", "regression", "--losses", "huber"], "unknown loss 'huber'; expected one of mse"),
        (["run", "all", "--losses", "mse"], "expected one experiment with --losses"),
        (["run", "regression", "--losses", "ce"], "loss 'ce' is a classification loss"),
        (["run", "segmentation"], "argument experiment: invalid choice: 'segmentation'"),
        (["run", "regression", "--workers", "0"], "argument --workers: expected a number >= 1, got 0"),
        (
            ["run", "regression", "--device", "tpu"],
            "expected device 'cpu', 'cuda' or 'cuda:N', got 'tpu'",
        ),
        (["claims", "--seeds", "0"], "expected at least 2 --seeds to judge claims over, got [0]"),
        (
            ["run", "regression", "--seeds", "0", str(10**20)],
            f"argument --seeds: expected a seed <= 4294967295, got {10**20}",
        ),
        (
            ["claims", "--seeds", "0", str(2**32)],
            f"argument --seeds: expected a seed <= 4294967295, got {2**32}",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code, out, err = run_cli(capsys, *argv, "--out", tmp_path)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_data_says_how_to_provide_it(tmp_path, capsys, offline):
    code, _, err = run_cli(capsys, "run", "regression", "--data-dir", tmp_path / "none", "--out", tmp_path)
    assert code == 2 and "mnist: missing file" in err and "REPRODUCE_DATA_DIR" in err
    assert f"The download failed too: Error downloading train-images-idx3-ubyte.gz: Tried {offline}" in err
    assert err.count("\n") == 1
    code, _, err = run_cli(capsys, "data", "--data-dir", tmp_path / "none")
    assert code == 2 and "reproduce data --download" in err


def test_damaged_data_names_the_file(data_dir, tmp_path, capsys):
    shutil.copytree(data_dir / "MNIST", tmp_path / "MNIST")
    victim = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    victim.write_bytes(victim.read_bytes()[:-1])
    code, _, err = run_cli(capsys, "run", "classification", "--data-dir", tmp_path, "--out", tmp_path / "o")
    assert code == 2 and "damaged file" in err and "train-labels-idx1-ubyte" in err
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written


@pytest.mark.parametrize("traceback", [None, "1"], ids=["one line", "REPRODUCE_TRACEBACK=1"])
def test_cuda_asked_for_without_cuda(data_dir, tmp_path, capsys, monkeypatch, traceback):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if traceback:  # as tools/gpu-check runs the CLI: the traceback in its log, then the line
        monkeypatch.setenv(cli.TRACEBACK_VAR, traceback)
    code, _, err = run_cli(
        capsys, "run", "regression", "--device", "cuda", "--data-dir", data_dir, "--out", tmp_path
    )
    lines = err.splitlines()
    assert code == 2 and "CUDA is not available here; use --device cpu" in lines[-1]
    if traceback:
        assert lines[0] == "Traceback (most recent call last):" and "CudaAbsent" in lines[-2]
    else:
        assert len(lines) == 1


def test_a_nan_mid_run_keeps_the_finished_runs(data_dir, tmp_path, capsys, monkeypatch):
    real_run = experiments.run

    def diverge_on_seed_1(config, data_dir, **kwargs):
        if config.seed == 1:
            raise TrainingDiverged("mse: loss became nan at epoch 1, batch 7; lower the learning rate")
        return real_run(config, data_dir, **kwargs)

    monkeypatch.setattr(experiments, "run", diverge_on_seed_1)
    smoke = "--scale smoke --epochs 1 --seeds 1 0 --no-progress --workers 1".split()  # patched: in-process
    code, _, err = run_cli(capsys, "run", "regression", *smoke, "--data-dir", data_dir, "--out", tmp_path)
    assert (
        code == 2
        and err == "reproduce: error: mse: loss became nan at epoch 1, batch 7; lower the learning rate\n"
    )
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["regression-mnist-smoke-seed0.json"]


def test_data_command_verifies_every_file(data_dir, capsys):
    code, out, _ = run_cli(capsys, "data", "--dataset", "mnist", "--data-dir", data_dir)
    assert code == 0 and "mnist: all 4 files verified" in out


def test_python_dash_m_reproduce_is_the_same_cli():
    done = subprocess.run([sys.executable, "-m", "reproduce", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "run" in done.stdout and "claims" in done.stdout


def refuse_to_train(monkeypatch):
    def train(config, data_dir, **kwargs):
        raise AssertionError(f"trained {config.label()} despite a bad argument")

    monkeypatch.setattr(experiments, "run", train)


@pytest.mark.parametrize("command", [["run", "regression"], ["claims"]])
@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("file", "argument --out: expected a folder, got the file '{file}'"),
        ("file/sub", "argument --out: expected a folder, got '{file}/sub' inside the file {file}"),
    ],
)
def test_an_out_that_cannot_be_a_folder_fails_before_training(
    data_dir, tmp_path, capsys, monkeypatch, command, where, message
):
    refuse_to_train(monkeypatch)
    file = tmp_path / "file"
    file.write_text("kept\n")
    out = where.replace("file", str(file))
    code, _, err = run_cli(capsys, *command, "--scale", "smoke", "--data-dir", data_dir, "--out", out)
    assert code == 2 and message.format(file=file) in err and err.count("\n") == 1
    assert file.read_text() == "kept\n"


def test_a_cache_dir_that_is_a_file_fails_before_training(data_dir, tmp_path, capsys, monkeypatch):
    refuse_to_train(monkeypatch)
    file = tmp_path / "cache"
    file.write_text("")
    argv = [
        "claims",
        "--scale",
        "smoke",
        "--data-dir",
        data_dir,
        "--cache-dir",
        file,
        "--out",
        tmp_path / "o",
    ]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and f"argument --cache-dir: expected a folder, got the file '{file}'" in err
    assert not (tmp_path / "o").exists()


@pytest.fixture
def mirror(data_dir, tmp_path_factory, monkeypatch):
    with local_mirror.serve(local_mirror.packed(data_dir, tmp_path_factory), monkeypatch) as served:
        yield served


@pytest.mark.parametrize("command", [["run", "regression"], ["claims"]])
def test_missing_data_is_downloaded_before_training(mirror, tmp_path, capsys, monkeypatch, command):
    trained_on = []

    def train(config, data_dir, **kwargs):
        trained_on.append(data_dir)
        raise TrainingDiverged("stopped after the first run began")

    monkeypatch.setattr(experiments, "run", train)
    fresh = tmp_path / "fresh"
    cache = ["--cache-dir", tmp_path / "cache"] if command == ["claims"] else []
    argv = [*command, *cache, "--scale", "smoke", "--data-dir", fresh, "--out", tmp_path / "o"]
    code, out, err = run_cli(capsys, *argv, "--no-progress", "--workers", "1")  # patched: in-process
    assert code == 2 and err.endswith("\nreproduce: error: stopped after the first run began\n")
    assert "100%" in err  # torchvision's progress bars, on stderr before the error line
    assert f"mnist: files missing under {fresh}; downloading them with torchvision" in out
    assert trained_on and trained_on[0] == fresh
    data.verify("mnist", fresh)  # the real SHA-256 table


def test_no_download_fails_on_missing_data_without_asking_the_network(mirror, tmp_path, capsys):
    argv = ["run", "regression", "--no-download", "--data-dir", tmp_path / "none", "--out", tmp_path]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and "mnist: missing file" in err and "download failed" not in err
    assert mirror.requested == []


def test_data_download_fetches_and_verifies(mirror, tmp_path, capsys):
    code, out, err = run_cli(capsys, "data", "--dataset", "mnist", "--download", "--data-dir", tmp_path)
    assert code == 0, err
    assert f"mnist: all 4 files verified under {tmp_path}" in out and mirror.requested


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_json_results_honour_the_umask(tmp_path, mask):
    with umask(mask):
        write_json_atomic(tmp_path / "r.json", {"a": 1})
        (tmp_path / "plain.txt").write_text("")
    assert mode(tmp_path / "r.json") == mode(tmp_path / "plain.txt") == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_every_runtime_dependency_is_imported_by_the_library():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[<>=!~;\[ ]", req)[0].lower() for req in project["dependencies"]}
    imported = set()
    for module in (ROOT / "reproduce").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    import_name = {"scikit-image": "skimage"}
    assert {dist for dist in runtime if import_name.get(dist, dist) not in imported} == set()
    assert "scikit-image" in " ".join(project["optional-dependencies"]["test"])


def test_the_torch_floor_is_the_one_tox_tests():
    """pyproject.toml's torch floor, config.TORCH_FLOOR (below which the stacked schedule trains
    per run) and the torch tox's oldest env installs are one version."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"torch>={TORCH_FLOOR},<3" in dependencies
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert f"torch==={TORCH_FLOOR}.0" in tox["testenv:oldest"]["deps"].split()
    env_list = {env.strip() for env in tox["tox"]["env_list"].split(",")}
    assert "oldest" in env_list
    # The hosted CI's matrix runs every default env, the floor's included.
    gate = yaml.safe_load((ROOT / ".github" / "workflows" / "gate.yml").read_text())
    assert {row["env"] for row in gate["jobs"]["tox"]["strategy"]["matrix"]["include"]} == env_list


def test_a_torch_below_the_floor_trains_per_run_said_in_one_line(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.12.1+cu121")
    argv = "run classification --scale smoke --epochs 1 --seeds 0 --schedule stacked --no-progress"
    code, _, err = run_cli(capsys, *argv.split(), "--data-dir", data_dir, "--out", tmp_path)
    assert code == 0, err
    assert err.splitlines() == [
        "reproduce: warning: torch 2.12.1+cu121 is older than 2.13, the oldest the stacked schedule "
        "is tested on; training per run"
    ]
    saved = json.loads((tmp_path / "runs" / "classification-mnist-smoke-seed0.json").read_text())
    assert "schedule" not in saved["environment"]  # trained one run at a time
