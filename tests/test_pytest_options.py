"""The suite's options take their value after a space (issue 16): ``--run-cache DIR``, not only
``--run-cache=DIR``, also where DIR exists outside the clone and no test path is given."""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

from reproduce import pytest_plugin

ROOT = Path(__file__).resolve().parents[1]
TEST = "test_key_is_stable_and_tells_configs_apart"  # tests/test_config.py: no data, no training

# Loaded with -p: what the session ended up with, printed in its header.
PROBE = """
def pytest_report_header(config):
    return [f"probe: rootpath={config.rootpath} run_cache={config.getoption('--run-cache')} "
            f"strict_markers={config.option.strict_markers} reportchars={config.option.reportchars}"]
"""


def pytest_in(cwd, *args, probe_dir=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_ADDOPTS", "PYTEST_XDIST"))}
    if probe_dir:
        (probe_dir / "probe.py").write_text(PROBE)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(probe_dir), env.get("PYTHONPATH")]))
        args = ("-p", "probe", *args)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_plugin_is_installed_as_an_entry_point():
    names = {ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert "reproduce.pytest_plugin" in names, "a stale install: run `pip install -e .` again"


def test_an_existing_folder_outside_the_clone_after_a_space(tmp_path):
    # Another project's pytest config above the folder: today's parse took the folder for a test
    # path and rooted the session there, with that project's addopts.
    other = tmp_path / "other-clone"
    (other / "runs").mkdir(parents=True)
    (other / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "--not-this-ini"\n')
    (tmp_path / "data").mkdir()
    assert ROOT not in tmp_path.parents, "the case needs a folder outside the clone"

    out = pytest_in(
        ROOT,
        *("--run-cache", other / "runs", "--data-dir", tmp_path / "data", "--seeds", "0", "1"),
        *("--collect-only", "-k", TEST),
        probe_dir=tmp_path,
    )
    assert f"rootdir: {ROOT}\nconfigfile: pyproject.toml\ntestpaths: tests\n" in out, out
    assert f"reproduce: data dir {tmp_path / 'data'}, seeds [0, 1]," in out, out
    probe = f"probe: rootpath={ROOT} run_cache={other / 'runs'} strict_markers=True reportchars=a"
    assert probe in out, out  # the clone's addopts (-ra --strict-markers), not the other's
    assert f"<Function {TEST}>" in out, out


def test_the_options_come_from_the_conftest_without_the_entry_point(tmp_path):
    out = pytest_in(
        ROOT,
        *("-p", "no:lecture22-reproduce", f"--run-cache={tmp_path}", "--seeds", "0", "1"),
        *("--collect-only", "tests/test_config.py", "-k", TEST),
        probe_dir=tmp_path,
    )
    assert "seeds [0, 1]," in out and f"run_cache={tmp_path} " in out, out
    assert "lecture22-reproduce" not in out, out  # not in the header's plugins: it was off


def test_inert_in_another_project_that_defines_the_same_options(tmp_path):
    """A course's own suite with ``--device`` and ``--run-cache``: the installed plugin adds none
    of ours, corrects nothing, and imports nothing of the package but itself (no torch)."""
    project = tmp_path / "course"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "course"\n[tool.pytest.ini_options]\n')
    (project / "conftest.py").write_text(
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--device')\n"
        "    parser.addoption('--run-cache')\n"
    )
    (project / "tests" / "test_course.py").write_text(
        "import sys\n"
        "def test_options(pytestconfig):\n"
        "    assert pytestconfig.getoption('--device') == 'npu'\n"
        "    assert not pytestconfig.pluginmanager.has_plugin('reproduce.pytest_options')\n"
        "    assert [m for m in sys.modules if m.startswith('reproduce.')] == ['reproduce.pytest_plugin']\n"
    )
    out = pytest_in(project, "--device", "npu", "tests")
    assert "1 passed" in out, out
    assert pytest_plugin.project_root(project) is None
    assert pytest_plugin.project_root(ROOT / "tests") == ROOT
