"""The command line: results and figures on success, one clear line and exit 2 on bad input."""

import json
import shutil
import subprocess
import sys

import pytest

from reproduce import cli, experiments
from reproduce.train import TrainingDiverged


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_writes_one_json_per_run_and_the_lectures_figures(data_dir, tmp_path, capsys):
    smoke = "--scale smoke --epochs 1 --seeds 0 1 --no-progress".split()
    code, out, err = run_cli(capsys, "run", "all", *smoke, "--data-dir", data_dir, "--out", tmp_path)
    assert code == 0, err
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == [f"{e}-mnist-smoke-seed{s}.json" for e in ("classification", "regression") for s in (0, 1)]
    saved = json.loads((tmp_path / "runs" / "regression-mnist-smoke-seed1.json").read_text())
    assert saved["config"]["epochs"] == 1 and saved["config"]["seed"] == 1
    assert set(saved["histories"]) == {"mse", "l1"}
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert figures == {
        "regression-loss.png",
        "regression-ssim.png",
        "regression-mae.png",
        "classification-loss.png",
        "classification-accuracy.png",
    }


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
        (
            ["run", "regression", "--device", "tpu"],
            "expected device 'cpu', 'cuda' or 'cuda:N', got 'tpu'",
        ),
        (["claims", "--seeds", "0"], "expected at least 2 --seeds to judge claims over, got [0]"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code, out, err = run_cli(capsys, *argv, "--out", tmp_path)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_data_says_how_to_provide_it(tmp_path, capsys):
    code, _, err = run_cli(capsys, "run", "regression", "--data-dir", tmp_path / "none", "--out", tmp_path)
    assert code == 2 and "mnist: missing file" in err and "REPRODUCE_DATA_DIR" in err
    code, _, err = run_cli(capsys, "data", "--data-dir", tmp_path / "none")
    assert code == 2 and "reproduce data --download" in err


def test_damaged_data_names_the_file(data_dir, tmp_path, capsys):
    shutil.copytree(data_dir / "MNIST", tmp_path / "MNIST")
    victim = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    victim.write_bytes(victim.read_bytes()[:-1])
    code, _, err = run_cli(capsys, "run", "classification", "--data-dir", tmp_path, "--out", tmp_path / "o")
    assert code == 2 and "damaged file" in err and "train-labels-idx1-ubyte" in err
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written


def test_cuda_asked_for_without_cuda(data_dir, tmp_path, capsys):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run_cli(
        capsys, "run", "regression", "--device", "cuda", "--data-dir", data_dir, "--out", tmp_path
    )
    assert code == 2 and "CUDA is not available here; use --device cpu" in err


def test_a_nan_mid_run_keeps_the_finished_runs(data_dir, tmp_path, capsys, monkeypatch):
    real_run = experiments.run

    def diverge_on_seed_1(config, root, **kwargs):
        if config.seed == 1:
            raise TrainingDiverged("mse: loss became nan at epoch 1, batch 7; lower the learning rate")
        return real_run(config, root, **kwargs)

    monkeypatch.setattr(experiments, "run", diverge_on_seed_1)
    smoke = "--scale smoke --epochs 1 --seeds 0 1 --no-progress".split()
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
