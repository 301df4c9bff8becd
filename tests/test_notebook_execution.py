"""reproduce.notebook on tiny notebooks (no training, seconds each): what it refuses before the kernel
starts, how a failing cell is named, and what the kernel prints.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest

from reproduce import notebook

PARAMETERS = 'results_dir = "out"'
WRITE_RESULTS = (
    "import json, os\n"
    "os.makedirs(results_dir, exist_ok=True)\n"
    f"json.dump({{'epochs': epochs}}, open(os.path.join(results_dir, {notebook.RESULTS_NAME!r}), 'w'))"
)


def tiny_notebook(tmp_path, *sources, parameters: str | None = PARAMETERS) -> Path:
    """``course.ipynb``: a cell tagged ``parameters`` (none if ``parameters`` is None), then ``sources``."""
    cells = [nbformat.v4.new_code_cell(s) for s in sources]
    if parameters is not None:
        cells.insert(0, nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    path = tmp_path / "course.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def marker_cell(marker: Path) -> str:
    """A cell that leaves ``marker`` behind: proof that the kernel ran the notebook's cells."""
    return f"open({str(marker)!r}, 'w').write('ran')"


def one_line_error(path, results, parameters=None) -> str:
    """The one-line NotebookError ``execute`` raises."""
    with pytest.raises(notebook.NotebookError) as failed:
        notebook.execute(path, results, parameters)
    message = str(failed.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    return message


# --- Behaviours kept ----------------------------------------------------------------------------


def test_a_notebook_that_raises_names_the_notebook_and_cell(tmp_path):
    path = tiny_notebook(tmp_path, "x = 1", "raise ValueError('broken on purpose')")
    message = one_line_error(path, tmp_path / "out")
    raising = "(\"raise ValueError('broken on purpose')\")"
    assert message == f"{path}: cell 2 {raising}, line 1, raised ValueError: broken on purpose"


def test_a_notebook_that_writes_no_results_is_named(tmp_path):
    path = tiny_notebook(tmp_path, "print('trained, but forgot to save')")
    with pytest.raises(notebook.NotebookError, match=f"{re.escape(str(path))}: ran, but wrote no results"):
        notebook.execute(path, tmp_path / "out")


def test_parameters_are_injected_after_the_parameters_cell(tmp_path):
    """The injected value wins over the notebook's own: the run trains 3 epochs, not 10."""
    path = tiny_notebook(tmp_path, WRITE_RESULTS, parameters=f"epochs = 10\n{PARAMETERS}")
    results = notebook.execute(path, tmp_path / "out", {"epochs": 3})
    assert json.loads(results.read_text()) == {"epochs": 3}


# --- Stale results ------------------------------------------------------------------------------


def test_existing_results_are_refused_before_any_cell_runs_and_kept(tmp_path):
    marker = tmp_path / "ran"
    path = tiny_notebook(tmp_path, marker_cell(marker), WRITE_RESULTS, parameters=f"epochs = 1\n{PARAMETERS}")
    old = tmp_path / "out" / notebook.RESULTS_NAME
    old.parent.mkdir()
    old.write_bytes(b'{"from": "an older run"}')
    message = one_line_error(path, old.parent)
    assert f"{old} already exists" in message
    assert "judges only the results this execution writes" in message
    assert "remove it, or pass an empty results folder" in message
    assert not marker.exists(), "a cell ran before the refusal"
    assert old.read_bytes() == b'{"from": "an older run"}'
    # The same notebook with an empty folder: its cells run (the marker is written) and it passes.
    assert notebook.execute(path, tmp_path / "empty") == tmp_path / "empty" / notebook.RESULTS_NAME
    assert marker.read_text() == "ran"


# --- Parameters ---------------------------------------------------------------------------------


def test_parameters_without_a_parameters_cell_are_refused_with_how_to_tag_it(tmp_path):
    marker = tmp_path / "ran"
    path = tiny_notebook(tmp_path, "epochs = 10", marker_cell(marker), parameters=None)
    message = one_line_error(path, tmp_path / "out", {"epochs": 3})
    assert "no cell is tagged `parameters`" in message
    assert "(epochs, results_dir) cannot be injected" in message
    assert "the gate always passes it" in message
    assert "property inspector (gear icon, right sidebar)" in message and '"Add Tag" parameters' in message
    assert "View > Cell Toolbar > Tags" in message and '"tags": ["parameters"]' in message
    assert not marker.exists()


def test_the_cli_refuses_a_notebook_without_a_parameters_cell_in_one_line(tmp_path, capsys):
    path = tiny_notebook(tmp_path, "epochs = 10", parameters=None)
    assert notebook.main([str(path), "--results", str(tmp_path / "out"), "-p", "epochs", "3"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith(f"reproduce.notebook: error: {path}: no cell is tagged `parameters`")


def test_an_unknown_parameter_is_refused_naming_it_and_the_names_the_cell_sets(tmp_path):
    cell = f"import math\nepochs = 10\nseeds: list = [0, 1]\nlr, (batch, *rest) = 0.1, (32, 1)\n{PARAMETERS}"
    path = tiny_notebook(tmp_path, "x = 1", parameters=cell)
    message = one_line_error(path, tmp_path / "out", {"epocs": 3, "epochs": 3})
    assert message == (
        f"{path}: parameter epocs is not assigned at top level by cell 0 ('import math'), the cell "
        "tagged `parameters`, so the injection would be ignored; that cell sets: epochs, seeds, lr, "
        "batch, rest, results_dir"
    )


def test_a_parameters_cell_that_does_not_parse_is_one_line_error(tmp_path):
    path = tiny_notebook(tmp_path, parameters=f"{PARAMETERS}\nepochs = = 3")
    message = one_line_error(path, tmp_path / "out", {"epochs": 3})
    assert "cell 0 ('results_dir = \"out\"'), the cell tagged `parameters`, does not parse (" in message
    assert "line 2), so the parameters it sets cannot be checked" in message


def test_the_first_of_two_parameters_cells_is_checked(tmp_path):
    """papermill injects after the first tagged cell: that is the one that must assign the name."""
    path = tiny_notebook(tmp_path, parameters=PARAMETERS)
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("epochs = 10", metadata={"tags": ["parameters"]}))
    nbformat.write(nb, path)
    message = one_line_error(path, tmp_path / "out", {"epochs": 3})
    assert "parameter epochs is not assigned at top level by cell 0" in message


# --- Naming the cell whose code raised ----------------------------------------------------------


def test_a_function_raising_names_the_cell_that_defines_it_and_the_caller(tmp_path):
    path = tiny_notebook(
        tmp_path,
        "import json",
        "def train(net, text):\n    net += 1\n    return json.loads(text)",  # raises in json's own code
        "runs = []\nruns.append(train(1, '{'))",
    )
    message = one_line_error(path, tmp_path / "out")
    assert message.startswith(f"{path}: cell 2 ('def train(net, text):'), line 3, raised JSONDecodeError: ")
    assert message.endswith(" (called from cell 3 ('runs = []'))")


# --- What the kernel prints ---------------------------------------------------------------------


def run_cli(path: Path, results: Path, *, encrypted: bool = True) -> subprocess.CompletedProcess:
    """``python -m reproduce.notebook`` in a subprocess: its stderr holds the kernel's too."""
    code = "import sys, reproduce.notebook as n\n"
    if not encrypted:  # the launch before the fix: plain TCP
        code += "n._transport_encryption = lambda: {}\n"
    code += f"sys.exit(n.main([{str(path)!r}, '--results', {str(results)!r}]))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_kernel_does_not_warn_about_tcp_without_encryption(tmp_path):
    path = tiny_notebook(tmp_path, WRITE_RESULTS, parameters=f"epochs = 1\n{PARAMETERS}")
    run = run_cli(path, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert "without encryption" not in run.stderr
    assert "[IPKernelApp]" not in run.stderr, "the kernel is shut down before this process exits"
    if int(version("ipykernel").split(".")[0]) < 7:
        return  # an older ipykernel never printed the warning: no control to run
    # Control: over plain TCP the same kernel warns, on the stderr this test reads.
    plain = run_cli(path, tmp_path / "plain", encrypted=False)
    assert plain.returncode == 0, plain.stderr
    assert "Kernel is running over TCP without encryption" in plain.stderr
