"""The baseline extension itself: tolerant comparison, its report, layout and syrupy workflow.

No training: the comparison is tested on small documents and on a committed baseline, and the
workflow (create, match, fail, stale, skip, update, under pytest-xdist too) on a throwaway
project whose only test snapshots one number.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from snapshot_json import BaselineExtension, in_scope, to_text
from test_baselines import Curves
from tolerance import Tolerance, Tolerances, compare

TESTS = Path(__file__).parent
SMOKE = TESTS.parent / "baselines/cpu/mnist/test_baselines"
LOSS = Tolerances(loss=Tolerance(absolute=1e-4), train_loss=Tolerance(relative=0.25))


def differs(received, baseline, tolerances=LOSS) -> bool:
    return not compare(received, baseline, tolerances).ok


# --- numbers: a distance, not a rounding -------------------------------------------------------


def test_within_tolerance_passes_and_beyond_fails():
    assert not differs({"loss": 0.50005}, {"loss": 0.5})
    assert differs({"loss": 0.5002}, {"loss": 0.5})


def test_crossing_a_rounding_boundary_inside_the_tolerance_passes():
    # 0.12344 and 0.12346 round apart at 4 decimals (0.1234 / 0.1235) but lie 2e-5 apart.
    assert not differs({"loss": 0.12346}, {"loss": 0.12344})


def test_rounding_to_the_same_digits_outside_the_tolerance_fails():
    # Both round to 0.1234, but they lie 8e-6 apart, beyond an absolute tolerance of 1e-6.
    assert differs({"loss": 0.123449}, {"loss": 0.123441}, Tolerances(loss=Tolerance(1e-6)))


def test_exactly_at_the_tolerance_passes_and_one_ulp_beyond_fails():
    exact = Tolerances(loss=Tolerance(absolute=0.25))  # 0.5, 0.75, 0.25: exact in binary
    assert not differs({"loss": 0.75}, {"loss": 0.5}, exact)
    assert differs({"loss": math.nextafter(0.75, 1)}, {"loss": 0.5}, exact)
    assert not differs({"train_loss": [2.5]}, {"train_loss": [2.0]})  # rel 0.25 of 2.0
    assert differs({"train_loss": [math.nextafter(2.5, 3)]}, {"train_loss": [2.0]})


def test_a_field_takes_the_tolerance_of_its_nearest_named_key():
    assert LOSS.for_path(("seeds", "0", "train_loss", 2)) == Tolerance(relative=0.25)
    assert LOSS.for_path(("config", "lr")) == Tolerance()  # none declared: exact
    assert differs({"lr": 1.0001e-4}, {"lr": 1e-4})


def test_nan_matches_nan_and_infinity_matches_itself():
    assert not differs({"loss": math.nan}, {"loss": math.nan})
    assert not differs({"loss": -math.inf}, {"loss": -math.inf})
    assert differs({"loss": math.inf}, {"loss": 1e300})


@pytest.mark.parametrize(
    "received, baseline",
    [
        ({"loss": 4}, {"loss": 3}),  # integers exactly, whatever the field's tolerance
        ({"loss": 3.0}, {"loss": 3}),  # a type change
        ({"device": "cuda"}, {"device": "cpu"}),
        ({"shared": True}, {"shared": False}),
        ({"loss": None}, {"loss": 0.5}),
    ],
    ids=["int", "int-to-float", "str", "bool", "null"],
)
def test_integers_strings_booleans_compare_exactly(received, baseline):
    assert differs(received, baseline)
    assert not differs(baseline, baseline)


@pytest.mark.parametrize(
    "received, where",
    [
        ({"a": [1.0, 2.0]}, "$.b: missing (in baseline only)"),
        ({"a": [1.0, 2.0], "b": {"c": 1}, "d": 0}, "$.d: new (not in baseline)"),
        ({"a": [1.0], "b": {"c": 1}}, "$.a: received 1 items, baseline 2"),
        ({"a": {"0": 1.0}, "b": {"c": 1}}, "$.a: received dict"),
    ],
    ids=["missing-key", "extra-key", "list-length", "list-to-dict"],
)
def test_a_change_of_structure_fails_and_says_where(received, where):
    comparison = compare(received, {"a": [1.0, 2.0], "b": {"c": 1}}, LOSS)
    assert comparison.headline() == "1 other difference(s) in structure, types or exact values."
    assert any(line.startswith(where) for line in comparison.other_differences)


# --- the extension: what a failure says, and where files go -----------------------------------


def test_a_failure_gives_the_count_the_worst_errors_where_and_the_remedy():
    extension = Curves()
    baseline = {"ce": {"train_loss": [2.0, 1.0], "metrics": {"accuracy": [70.0, 80.0]}}}
    received = {"ce": {"train_loss": [2.0, 1.5], "metrics": {"accuracy": [70.0, 80.3]}}}
    serialized, stored = extension.serialize(received), extension.serialize(baseline)
    assert not extension.matches(serialized_data=serialized, snapshot_data=stored)
    report = "\n".join(extension.diff_lines(serialized, stored))
    assert "2 of 4 numbers differ beyond tolerance" in report
    assert "Worst absolute error 0.5 at $.ce.train_loss[1]" in report
    assert "Worst relative error 0.5 at $.ce.train_loss[1]" in report
    assert "$.ce.metrics.accuracy[1]: received 80.3, baseline 80, |diff| 0.3" in report
    assert "> tolerance abs 0.06" in report
    assert report.splitlines()[1].startswith("If deliberate, rerun this pytest command with ")
    assert "--snapshot-update" in report


def test_a_missing_or_damaged_baseline_fails_with_the_remedy():
    extension = Curves()
    serialized = extension.serialize({"loss": 1.0})
    assert not extension.matches(serialized_data=serialized, snapshot_data="{not json")
    assert "not valid JSON" in "\n".join(extension.diff_lines(serialized, "{not json"))
    assert "--snapshot-update" in "\n".join(extension.diff_lines(serialized, ""))


def test_files_are_stored_per_device_kind_dataset_and_module():
    item = SimpleNamespace(
        callspec=SimpleNamespace(params={"device": "cuda:1", "dataset": "mnist"}),
        config=SimpleNamespace(rootpath=Path("/repo")),
    )
    location = SimpleNamespace(item=item, basename="test_baselines")
    assert BaselineExtension.dirname(test_location=location) == ("/repo/baselines/cuda/mnist/test_baselines")


def test_floats_are_stored_readably_and_round_trip():
    text = BaselineExtension().serialize({"accuracy": [69.89999999999999, 75.9], "n": 3})
    assert text == '{\n "accuracy": [69.9, 75.9],\n "n": 3\n}\n'
    assert to_text(json.loads(text)) + "\n" == text


def test_a_session_narrowed_by_options_leaves_the_other_baselines_alone():
    def config(device="all", scale="all"):
        options = {"--device": device, "--scale": scale}
        return SimpleNamespace(rootpath=Path("/repo"), getoption=lambda o, default: options[o])

    choices = {"--device": ("cpu", "cuda"), "--scale": ("lecture", "smoke")}
    lecture = Path("/repo/baselines/cuda/mnist/test_baselines/test_curves[cuda-lecture-x].json")
    assert in_scope(lecture, config(), choices)
    assert not in_scope(lecture, config(scale="smoke"), choices)
    assert not in_scope(lecture, config(device="cpu"), choices)
    assert in_scope(lecture, config(device="cuda", scale="lecture"), choices)


# --- a committed baseline, perturbed ----------------------------------------------------------


def committed(name: str) -> str:
    path = SMOKE / name
    if not path.is_file():
        pytest.fail(f"no committed baseline {path}; see tests/test_baselines.py")
    return path.read_text()


def test_a_committed_baseline_round_trips_unchanged():
    text = committed("test_curves[cpu-smoke-classification-mnist].json")
    assert Curves().serialize(json.loads(text)) == text


def test_a_committed_baseline_perturbed_beyond_tolerance_fails_within_passes(tmp_path):
    original = committed("test_curves[cpu-smoke-regression-mnist].json")
    received = Curves().serialize(json.loads(original))  # what an unchanged run produces

    def perturbed_by(delta: float) -> str:
        data = json.loads(original)
        data["seeds"]["1"]["histories"]["l1"]["metrics"]["ssim"][2] += delta
        path = tmp_path / "baseline.json"
        path.write_text(Curves().serialize(data))
        return path.read_text()

    assert Curves().matches(serialized_data=received, snapshot_data=perturbed_by(0.9e-5))
    stored = perturbed_by(3e-5)
    assert not Curves().matches(serialized_data=received, snapshot_data=stored)
    report = "\n".join(Curves().diff_lines(received, stored))
    assert "1 of " in report and "$.seeds.1.histories.l1.metrics.ssim[2]" in report


# --- the syrupy workflow, end to end, in a throwaway project ------------------------------------

ROOT_CONFTEST = """
import os, pytest

def pytest_addoption(parser):
    parser.addoption("--device", default="all")
    parser.addoption("--scale", default="all")

def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: cuda")
    config.addinivalue_line("markers", "slow: lecture scale")

def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--device")
        metafunc.parametrize("device", [
            pytest.param(d, marks=[pytest.mark.gpu] * (d == "cuda"))
            for d in ("cpu", "cuda") if chosen in ("all", d)], indirect=True)
    if "scale" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--scale")
        metafunc.parametrize("scale", [
            pytest.param(s, marks=[pytest.mark.slow] * (s == "lecture"))
            for s in ("lecture", "smoke") if chosen in ("all", s)])

@pytest.fixture
def device(request):
    if request.param == "cuda" and not os.environ.get("FAKE_CUDA"):
        pytest.skip("no CUDA")
    return request.param
"""

TEST_MODULE = """
import os, pytest
from snapshot_json import BaselineExtension
from tolerance import Tolerance, Tolerances

class Value(BaselineExtension):
    tolerances = Tolerances(loss=Tolerance(absolute=0.01))

@pytest.mark.parametrize("dataset", ["mnist"])
def test_value(dataset, scale, device, baseline):
    assert baseline(Value) == {"loss": float(os.environ.get("FAKE_LOSS", "0.5")), "epochs": 3}
"""


@pytest.fixture
def project(tmp_path):
    """A project with our conftest and extension, a fake root conftest, and one snapshot test."""
    (tmp_path / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    (tmp_path / "conftest.py").write_text(ROOT_CONFTEST)
    tests = tmp_path / "tests"
    tests.mkdir()
    for name in ("conftest.py", "snapshot_json.py", "tolerance.py"):
        shutil.copy(TESTS / name, tests / name)
    (tests / "test_baselines.py").write_text(TEST_MODULE)
    return tmp_path


def pytest_in(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *args],
        cwd=project,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def stored(project: Path, device: str, scale: str) -> Path:
    folder = project / "baselines" / device / "mnist" / "test_baselines"
    return folder / f"test_value[{device}-{scale}-mnist].json"


def test_update_creates_cpu_baselines_and_a_missing_one_fails(project):
    result = pytest_in(project)
    assert result.returncode == 1, result.stdout
    assert "no baseline at baselines/cpu/mnist/test_baselines/" in result.stdout
    assert "--snapshot-update" in result.stdout

    result = pytest_in(project, "--snapshot-update")
    assert result.returncode == 0, result.stdout
    assert stored(project, "cpu", "smoke").is_file() and stored(project, "cpu", "lecture").is_file()
    assert not (project / "baselines" / "cuda").exists()  # skipped: no CUDA here

    result = pytest_in(project, FAKE_CUDA="1")
    assert result.returncode == 0, result.stdout
    assert "no CUDA baseline yet" in result.stdout and "pytest -m gpu --snapshot-update" in (result.stdout)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_tolerance_stale_baselines_and_update(project, workers):
    assert pytest_in(project, "--snapshot-update", *workers, FAKE_CUDA="1").returncode == 0
    assert stored(project, "cuda", "smoke").is_file()
    # Here CUDA is absent again: the CUDA twins skip, and their baselines are not unused.
    assert pytest_in(project, *workers, FAKE_LOSS="0.505").returncode == 0  # within 0.01

    result = pytest_in(project, *workers, FAKE_LOSS="0.52")
    assert result.returncode == 1
    assert "$.loss: received 0.52, baseline 0.5" in result.stdout

    stale = stored(project, "cpu", "gone")
    stale.write_text('{"loss": 0.5, "epochs": 3}\n')
    result = pytest_in(project, *workers)
    assert result.returncode == 1 and "1 snapshot unused" in result.stdout, result.stdout
    # A run that deselects tests (-m) leaves every baseline alone, stale ones too (syrupy
    # cannot tell them apart); one narrowed by --scale / --device still sees a stale one.
    assert pytest_in(project, *workers, "-m", "not slow").returncode == 0
    assert pytest_in(project, *workers, "--scale", "smoke", "--device", "cpu").returncode == 1
    stale.unlink()
    assert pytest_in(project, *workers, "--scale", "smoke", "--device", "cpu").returncode == 0
    stale.write_text('{"loss": 0.5, "epochs": 3}\n')

    result = pytest_in(project, "--snapshot-update", *workers, FAKE_LOSS="0.52")
    assert result.returncode == 0, result.stdout
    assert not stale.exists()  # deleted as unused
    assert stored(project, "cuda", "smoke").is_file()  # skipped here, so kept
    assert json.loads(stored(project, "cpu", "smoke").read_text())["loss"] == 0.52
    assert pytest_in(project, *workers, FAKE_LOSS="0.52").returncode == 0
