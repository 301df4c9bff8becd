"""tools/gpu-check without a GPU: its --dry-run (what it would install and run) and its refusals.

The dry run reads the given Python as a real run does, prints a CUDA problem instead of stopping on
it, and runs and writes nothing, so these pass on any machine; only a real run needs a card.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
GPU_CHECK = ROOT / "tools" / "gpu-check"
DEFAULT_STEPS = ["card", "gpu-smoke", "gpu-lecture", "lecture", "floor"]


def gpu_check(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    """tools/gpu-check ARGS with this test's Python; ENV entries set (None: unset) variables."""
    environment = {k: v for k, v in os.environ.items() if k != "REPRODUCE_WHEELS"}
    environment["REPRODUCE_PYTHON"] = sys.executable
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(["bash", str(GPU_CHECK), *args], capture_output=True, text=True, env=environment)


def steps(stdout: str) -> dict[str, str]:
    """Each ``== NAME: COMMAND`` line's command, by step name, in order."""
    lines = (line.removeprefix("== ") for line in stdout.splitlines() if line.startswith("== "))
    return dict(line.split(": ", 1) for line in lines)


def test_dry_run_installs_nothing_into_the_dev_venv_and_shows_every_default_step(tmp_path):
    out = tmp_path / "out"
    done = gpu_check("--dry-run", str(out), REPRODUCE_DATA_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "install: nothing to install" in lines
    assert "wheels: none given; what is missing comes from the registry" in lines
    assert any(line.startswith("pinned: torch==") for line in lines)
    # The dry run reports a CUDA problem (a real run would stop on it) and goes on.
    assert any(line.startswith("cuda: ") for line in lines) == (not torch.cuda.is_available())
    commands = steps(done.stdout)
    assert list(commands) == DEFAULT_STEPS
    for scale in ("smoke", "lecture"):
        twins = commands[f"gpu-{scale}"]
        assert twins.startswith(f"env REPRODUCE_REQUIRE_CUDA=1 {sys.executable} -m pytest -m gpu -n auto")
        assert f" --scale {scale} " in twins
        assert twins.endswith(f" --run-cache={out}/runs")
    assert commands["lecture"] == (
        f"{sys.executable} -m reproduce claims --device cuda --scale lecture --seeds 0 1 2 3 4 "
        f"--no-progress --out {out}/lecture --cache-dir {out}/lecture-runs"
    )
    assert commands["floor"].endswith(
        f"benchmarks/floor.py --device cuda --data-dir {tmp_path} --out {out}/floor-cuda.json"
    )
    assert not out.exists()


def test_dry_run_names_the_wheel_folder_and_adds_the_baselines_steps_on_request(tmp_path):
    out, wheels = tmp_path / "out", tmp_path / "wheels"
    wheels.mkdir()
    done = gpu_check(
        "--dry-run", "--baselines", str(out), REPRODUCE_DATA_DIR=str(tmp_path), REPRODUCE_WHEELS=str(wheels)
    )
    assert done.returncode == 0, done.stderr
    assert f"wheels: {wheels} (--no-index: nothing from the registry)" in done.stdout.splitlines()
    commands = steps(done.stdout)
    assert list(commands) == [*DEFAULT_STEPS, "baselines", "rerun"]
    assert " -m gpu " in commands["baselines"] and " -m gpu " in commands["rerun"]
    assert commands["baselines"].endswith(f"tests/test_baselines.py --snapshot-update --run-cache={out}/runs")
    assert commands["rerun"].endswith(f"tests/test_baselines.py --run-cache={out}/rerun-runs")


def python_without_torch(tmp_path: Path) -> str:
    """This Python without its site-packages (-S), so without torch."""
    python = tmp_path / "python-without-site"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    python.chmod(0o755)
    return str(python)


@pytest.mark.parametrize(
    "case, args, expected",
    [
        ("no data dir", [], "set REPRODUCE_DATA_DIR to the folder holding MNIST/raw"),
        ("python that does not run", [], "does not run"),
        ("python without torch", [], "has no torch; gpu-check uses the torch a GPU box has"),
        (
            "missing wheel folder",
            ["--wheels", "{tmp}/no-wheels"],
            "wheel folder {tmp}/no-wheels does not exist",
        ),
        ("missing REPRODUCE_WHEELS", [], "wheel folder {tmp}/no-wheels does not exist"),
    ],
)
def test_refusals_are_one_line_and_exit_2(tmp_path, case, args, expected):
    env = {"REPRODUCE_DATA_DIR": str(tmp_path)}
    if case == "no data dir":
        env["REPRODUCE_DATA_DIR"] = None
    elif case == "python that does not run":
        env["REPRODUCE_PYTHON"] = str(tmp_path / "no-python")
    elif case == "python without torch":
        env["REPRODUCE_PYTHON"] = python_without_torch(tmp_path)
    elif case == "missing REPRODUCE_WHEELS":
        env["REPRODUCE_WHEELS"] = f"{tmp_path}/no-wheels"
    done = gpu_check("--dry-run", *(a.format(tmp=tmp_path) for a in args), **env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and expected.format(tmp=tmp_path) in done.stderr


@pytest.fixture(scope="module")
def gpu_check_env():
    spec = importlib.util.spec_from_file_location("gpu_check_env", ROOT / "tools" / "gpu_check_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_needs_are_pyprojects_dependencies_and_test_extra(gpu_check_env):
    requires_python, wanted = gpu_check_env.needs()
    assert requires_python == ">=3.10"
    assert {"torch>=2.13,<3", "platformdirs>=3", "pytest-xdist>=3.5", "syrupy>=6.1.1"} <= set(wanted)
    assert "ruff==0.17.6" not in wanted  # the lint extra is not the tests'


def test_unmet_lists_what_is_absent_or_out_of_range_and_skips_other_platforms(gpu_check_env):
    wanted = ["pytest>=8", "pytest>=999", "no-such-distribution-xyz>=1", 'pyyaml>=6; python_version < "3"']
    assert gpu_check_env.unmet(wanted) == ["pytest>=999", "no-such-distribution-xyz>=1"]


def test_an_installed_prerelease_torch_is_not_replaced(gpu_check_env, monkeypatch):
    # NVIDIA's containers ship torch 2.x.0a0+nv builds; pip accepts them as installed.
    monkeypatch.setattr(gpu_check_env, "installed", lambda name: "2.14.0a0+ecf3bae40a.nv25.10")
    assert gpu_check_env.unmet(["torch>=2.13,<3"]) == []


def python_on_a_failing_card(tmp_path: Path) -> str:
    """This Python, playing a box whose card is seen but whose twins fail: the CUDA check finds
    nothing wrong, card.json is written, and pytest fails with a traceback."""
    python = tmp_path / "python-on-a-failing-card"
    python.write_text(
        f"""#!/bin/bash
case "$1 $2" in
  "tools/gpu_check_env.py check") {sys.executable} "$@" | grep -v '^cuda ' ;;
  "tools/gpu_check_env.py card") echo '{{"cuda:0": {{}}}}' > "$4/card.json" ;;
  "-m pytest")
    printf 'Traceback (most recent call last):\\n  File "reproduce/training/stacked.py", line 1\\n'
    echo "RuntimeError: CUDA error: operation not permitted when stream is capturing"
    exit 1 ;;
  *) exec {sys.executable} "$@" ;;
esac
"""
    )
    python.chmod(0o755)
    return str(python)


def test_the_first_failing_step_stops_the_check_naming_it(tmp_path):
    out = tmp_path / "out"
    done = gpu_check(
        str(out), REPRODUCE_DATA_DIR=str(tmp_path), REPRODUCE_PYTHON=python_on_a_failing_card(tmp_path)
    )
    assert done.returncode == 1, done.stderr
    assert list(steps(done.stdout)) == ["card", "gpu-smoke"]  # gpu-lecture and the rest never ran
    stopped = f"stopped at step gpu-smoke (exit 1); its whole output is {out}/gpu-smoke.log, ending:"
    assert stopped in done.stdout.splitlines()
    assert "   | RuntimeError: CUDA error: operation not permitted when stream is capturing" in done.stdout
    assert (out / "gpu-smoke.log").read_text().startswith("Traceback (most recent call last):")
    assert stopped in (out / "summary.txt").read_text()
    assert not (out / "gpu-lecture.log").exists()
