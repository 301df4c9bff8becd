"""The baselines plugin (baselines_plugin/): tolerant comparison, its report, layout and workflow.

No training: the comparison is tested on small documents and on a committed baseline, and the
workflow (create, match, fail, stale, skip, update, under pytest-xdist too) with pytester, on a
throwaway project that loads the real plugin with ``pytest_plugins`` and whose only test
snapshots one number.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_baselines import Curves

from baselines_plugin import plugin
from baselines_plugin.extension import FOLDER, IN_SCOPE, BaselineExtension, to_text
from baselines_plugin.plugin import in_scope, names_in
from baselines_plugin.tolerance import Tolerance, Tolerances, compare
from reproduce.training import devices

pytest_plugins = ["pytester"]

SMOKE = Path(__file__).parents[1] / "baselines/cpu/mnist/test_baselines"
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


CHOICES = {
    "--device": ("cpu", "cuda"),
    "--scale": ("lecture", "smoke"),
    "--dataset": ("mnist", "fashion-mnist"),
}
CARD = "cuda/nvidia-h100-80gb-hbm3-cc90-132sm"  # what reproduce.training.devices names a CUDA card's folder


def session(in_scope_rule=lambda config, relative: None, **chosen):
    """A stand-in for pytest's config: rootdir /repo, options as given (default "all"), the
    project's in-scope rule (default: none)."""
    config = SimpleNamespace(rootpath=Path("/repo"), stash=pytest.Stash())
    config.getoption = lambda option, default=None: chosen.get(option.strip("-"), "all")
    config.hook = SimpleNamespace(pytest_baselines_in_scope=in_scope_rule)
    config.stash[FOLDER] = plugin.pytest_baselines_folder
    config.stash[IN_SCOPE] = lambda path: in_scope(path, config, CHOICES)
    return config


def location(config, device: str, running_on: str | None = None):
    item = SimpleNamespace(
        callspec=SimpleNamespace(params={"device": device, "dataset": "mnist"}),
        funcargs={"device": running_on} if running_on else None,
        config=config,
    )
    return SimpleNamespace(item=item, basename="test_baselines")


def test_files_are_stored_per_device_folder_dataset_and_module():
    where = BaselineExtension.dirname(test_location=location(session(), "cpu"))
    assert where == "/repo/baselines/cpu/mnist/test_baselines"


def test_a_device_folder_of_two_levels_is_stored_owned_and_narrowed(monkeypatch):
    asked = []
    monkeypatch.setattr(
        devices, "baseline_folder", lambda d: asked.append(d) or (CARD if "cuda" in d else "cpu")
    )
    test = location(session(), "cuda", running_on="cuda:1")
    where = BaselineExtension.dirname(test_location=test)
    assert where == f"/repo/baselines/{CARD}/mnist/test_baselines" and asked == ["cuda:1"]

    def owned(path: str, config=test.item.config) -> bool:
        test.item.config = config
        return BaselineExtension().owns_snapshot_collection(filepath=path, test_location=test)

    name = "test_curves[cuda-smoke-mnist].json"
    assert owned(f"{where}/{name}")
    assert owned(f"/repo/baselines/cpu/mnist/test_baselines/{name}")
    assert not owned(f"{where}/notes.txt")
    assert not owned("/repo/baselines/README.json") and not owned("/repo/baselines/x/y.json")
    assert not owned(f"/elsewhere/baselines/cpu/mnist/test_baselines/{name}")
    assert not owned(f"{where}/{name}", session(device="cpu"))
    assert owned(f"{where}/{name}", session(device="cuda", scale="smoke"))


def test_a_session_narrowed_by_options_leaves_the_other_baselines_alone():
    lecture = Path("/repo/baselines/cuda/mnist/test_baselines/test_curves[cuda-lecture-x].json")
    assert in_scope(lecture, session(), CHOICES)
    assert not in_scope(lecture, session(scale="smoke"), CHOICES)
    assert not in_scope(lecture, session(device="cpu"), CHOICES)
    assert in_scope(lecture, session(device="cuda", scale="lecture"), CHOICES)
    assert in_scope(lecture, session(scale=["smoke", "lecture"]), CHOICES)  # nargs="+"
    assert in_scope(lecture, session(scale="default"), CHOICES)  # not a value: narrows nothing


def test_a_value_is_a_whole_name_and_the_longest_wins():
    fashion = Path(
        "/repo/baselines/cpu/fashion-mnist/test_baselines/test_curves[cpu-smoke-fashion-mnist-x].json"
    )
    mnist = Path("/repo/baselines/cpu/mnist/test_baselines/test_curves[cpu-smoke-mnist-x].json")
    assert names_in(fashion.as_posix(), {"mnist", "fashion-mnist", "cpu"}) == {"fashion-mnist", "cpu"}
    assert not in_scope(fashion, session(dataset="mnist"), CHOICES)
    assert in_scope(mnist, session(dataset="mnist"), CHOICES)
    assert not in_scope(mnist, session(dataset="fashion-mnist"), CHOICES)
    assert in_scope(fashion, session(dataset="fashion-mnist"), CHOICES)
    assert names_in(f"baselines/{CARD}/x.json", {"cpu", "cuda", "smoke", "lecture"}) == {"cuda"}
    assert names_in("baselines/cpu/test_smokers[cuda_x].json", {"cpu", "cuda", "smoke"}) == {"cpu"}


def test_this_suite_loads_the_plugin_and_names_its_narrowing_options(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("baselines_plugin.plugin")
    options = plugin.narrowing(pytestconfig)
    assert {"--device", "--scale"} <= options.keys()
    for option, values in options.items():
        assert pytestconfig.getoption(option) in ("all", "default", *values)  # a real option


def test_floats_are_stored_readably_and_round_trip():
    text = BaselineExtension().serialize({"accuracy": [69.89999999999999, 75.9], "n": 3})
    assert text == '{\n "accuracy": [69.9, 75.9],\n "n": 3\n}\n'
    assert to_text(json.loads(text)) + "\n" == text


# --- a committed baseline, perturbed ----------------------------------------------------------


def committed(family: str) -> str:
    """A committed smoke-scale baseline of the family's curves, whatever its parameters' order."""
    found = sorted(SMOKE.glob(f"test_curves[[]cpu-smoke-*{family}*[]].json"))
    if not found:
        pytest.fail(f"no committed {family} baseline in {SMOKE}; see tests/test_baselines.py")
    return found[0].read_text()


def test_a_committed_baseline_round_trips_unchanged():
    text = committed("classification")
    assert Curves().serialize(json.loads(text)) == text


def test_a_committed_baseline_perturbed_beyond_tolerance_fails_within_passes(tmp_path):
    original = committed("regression")
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

# The project's own options, markers and device fixture, as the root conftest.py has them; the
# baselines machinery is the real plugin. No GPU here: a CUDA twin skips unless FAKE_CUDA is
# set, and a stand-in for reproduce.training.devices names a CUDA card's folder as it does on a real one,
# two levels deep (a stand-in, not the module patched: importing torch in every run is slow).
ROOT_CONFTEST = f"""
import os, sys, types
import pytest

devices = types.ModuleType("reproduce.training.devices")
devices.baseline_folder = lambda device: "{CARD}" if device.startswith("cuda") else "cpu"
sys.modules["reproduce.training.devices"] = devices
pytest_plugins = ["baselines_plugin.plugin"]

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
    return "cuda:0" if request.param == "cuda" else "cpu"
"""

TESTS_CONFTEST = """
def pytest_baselines_narrowing(config):
    return {"--device": ("cpu", "cuda"), "--scale": ("lecture", "smoke")}
"""

TEST_MODULE = """
import os, pytest
from baselines_plugin.extension import BaselineExtension
from baselines_plugin.tolerance import Tolerance, Tolerances

class Value(BaselineExtension):
    tolerances = Tolerances(loss=Tolerance(absolute=0.01))

@pytest.mark.parametrize("dataset", ["mnist"])
def test_value(dataset, scale, device, baseline):
    assert baseline(Value) == {"loss": float(os.environ.get("FAKE_LOSS", "0.5")), "epochs": 3}
"""


@pytest.fixture
def project(pytester, monkeypatch):
    """``project(*args, **env)`` runs pytest in a fresh subprocess on the throwaway project."""
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    pytester.makeconftest(ROOT_CONFTEST)
    pytester.mkdir("tests")
    (pytester.path / "tests" / "conftest.py").write_text(TESTS_CONFTEST)
    (pytester.path / "tests" / "test_baselines.py").write_text(TEST_MODULE)
    for name in [k for k in os.environ if k.startswith("PYTEST_XDIST")]:
        monkeypatch.delenv(name)

    def run(*args: str, **env: str):
        for name in ("FAKE_CUDA", "FAKE_LOSS"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rs", *args, timeout=300)
        result.text = result.stdout.str()
        return result

    run.path = pytester.path
    return run


def stored(project, device: str, scale: str) -> Path:
    folder = project.path / "baselines" / (CARD if device == "cuda" else device) / "mnist" / "test_baselines"
    return folder / f"test_value[{device}-{scale}-mnist].json"


def test_update_creates_cpu_baselines_and_a_missing_one_fails(project):
    result = project()
    assert result.ret == 1, result.text
    assert "no baseline at baselines/cpu/mnist/test_baselines/" in result.text
    assert "--snapshot-update" in result.text

    result = project("--snapshot-update")
    assert result.ret == 0, result.text
    assert stored(project, "cpu", "smoke").is_file() and stored(project, "cpu", "lecture").is_file()
    assert not (project.path / "baselines" / "cuda").exists()  # skipped: no CUDA here

    result = project(FAKE_CUDA="1")
    assert result.ret == 0, result.text
    assert f"no CUDA baseline yet at baselines/{CARD}/mnist/test_baselines/" in result.text
    assert "pytest -m gpu --snapshot-update" in result.text


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_tolerance_stale_baselines_and_update(project, workers):
    assert project("--snapshot-update", *workers, FAKE_CUDA="1").ret == 0
    assert stored(project, "cuda", "smoke").is_file()
    # Here CUDA is absent again: the CUDA twins skip, and their baselines are not unused.
    assert project(*workers, FAKE_LOSS="0.505").ret == 0  # within 0.01

    result = project(*workers, FAKE_LOSS="0.52")
    assert result.ret == 1
    assert "$.loss: received 0.52, baseline 0.5" in result.text

    stale = stored(project, "cpu", "gone")
    stale.write_text('{"loss": 0.5, "epochs": 3}\n')
    result = project(*workers)
    assert result.ret == 1 and "1 snapshot unused" in result.text, result.text
    # A run that deselects tests (-m) leaves every baseline alone, stale ones too (syrupy
    # cannot tell them apart); one narrowed by --scale / --device still sees a stale one.
    assert project(*workers, "-m", "not slow").ret == 0
    assert project(*workers, "--scale", "smoke", "--device", "cpu").ret == 1
    stale.unlink()
    assert project(*workers, "--scale", "smoke", "--device", "cpu").ret == 0
    stale.write_text('{"loss": 0.5, "epochs": 3}\n')

    result = project("--snapshot-update", *workers, FAKE_LOSS="0.52")
    assert result.ret == 0, result.text
    assert not stale.exists()  # deleted as unused
    assert stored(project, "cuda", "smoke").is_file()  # skipped here, so kept
    assert json.loads(stored(project, "cpu", "smoke").read_text())["loss"] == 0.52
    assert project(*workers, FAKE_LOSS="0.52").ret == 0


def test_a_stale_baseline_in_a_card_folder_is_seen_and_only_a_full_update_deletes_it(project):
    assert project("--snapshot-update", FAKE_CUDA="1").ret == 0
    stale = stored(project, "cuda", "gone")
    stale.write_text('{"loss": 0.5, "epochs": 3}\n')
    result = project(FAKE_CUDA="1")
    assert result.ret == 1 and "1 snapshot unused" in result.text, result.text
    assert project("--snapshot-update", "--device", "cpu", FAKE_CUDA="1").ret == 0
    assert stale.is_file() and stored(project, "cuda", "lecture").is_file()  # another's: kept
    assert project("--snapshot-update", FAKE_CUDA="1").ret == 0
    assert not stale.exists() and stored(project, "cuda", "lecture").is_file()


def test_by_default_other_datasets_count_at_the_quick_scale_only():
    """tests/conftest.py's rule: a plain run trains Fashion-MNIST at smoke scale only, so its
    lecture-scale baselines are neither used nor unused there (and never deleted)."""
    spec = importlib.util.spec_from_file_location("project_conftest", Path(__file__).parent / "conftest.py")
    project = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(project)
    folder = "/repo/baselines/cpu/{0}/test_baselines/test_curves[cpu-{1}-{0}-regression].json"
    plain = session(in_scope_rule=project.pytest_baselines_in_scope, dataset="default")
    assert in_scope(Path(folder.format("mnist", "lecture")), plain, CHOICES)
    assert in_scope(Path(folder.format("fashion-mnist", "smoke")), plain, CHOICES)
    assert not in_scope(Path(folder.format("fashion-mnist", "lecture")), plain, CHOICES)
    asked = session(in_scope_rule=project.pytest_baselines_in_scope, dataset="fashion-mnist")
    assert in_scope(Path(folder.format("fashion-mnist", "lecture")), asked, CHOICES)
    assert not in_scope(Path(folder.format("mnist", "lecture")), asked, CHOICES)
