"""Execute a course notebook with parameters, audit its deprecations, and find the results it wrote.

    python -m reproduce.notebook notebooks/lecture22.ipynb --results out/ -p epochs 3
    reproduce claims --results out/ --out report/

Executed with nbclient (the engine under papermill and nbmake) on the ``python3`` kernel of this
interpreter. Parameters are injected papermill's way: a cell tagged ``injected-parameters`` right
after the cell tagged ``parameters``, so the same notebook runs under papermill unchanged.

The deprecation audit: a DeprecationWarning or FutureWarning raised by torch, torchvision,
scikit-image, numpy or matplotlib *because the notebook's code called it* fails the run, with the
cell and the warning's text. "Because" is read from the stack when the warning is shown: the first
frame outside the warning's package must be the notebook's (a warning from C code, or from a
``@deprecated`` wrapper, has the calling cell as its innermost frame, and counts too). A package's
own internal deprecations (torchvision calling torch, an import-time warning) are not the course's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

AUDITED_PACKAGES = ("torch", "torchvision", "skimage", "numpy", "matplotlib")
RESULTS_NAME = "lecture22-results.json"  # what the lecture's notebook writes into results_dir

# Runs in the kernel before the notebook's first cell. Records, for each audited warning, the
# source of the cell whose code caused it.
_AUDIT_SETUP = """
import sys as _audit_sys, warnings as _audit_warnings
_audit_found = []
def _audit_user(frame):
    name = frame.f_globals.get("__name__", "")
    return name == "__main__" or name.split(".")[0] == "reproduce"
def _audit_showwarning(message, category, filename, lineno, file=None, line=None):
    if not issubclass(category, (DeprecationWarning, FutureWarning)):
        return _audit_previous(message, category, filename, lineno, file, line)
    frame = _audit_sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in (
        "warnings", "typing_extensions"
    ):
        frame = frame.f_back
    if frame is None:
        return
    package = frame.f_globals.get("__name__", "").split(".")[0]
    if not _audit_user(frame):
        if package not in PACKAGES:
            return
        while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == package:
            frame = frame.f_back
        if frame is None or not _audit_user(frame):
            return
    _audit_found.append({"category": category.__name__, "message": str(message),
                         "where": f"{filename}:{lineno}", "cell": _audit_cell[0]})
_audit_cell = [None]  # the source of the cell being run, set before each cell
get_ipython().events.register("pre_run_cell", lambda info: _audit_cell.__setitem__(0, info.raw_cell))
_audit_previous = _audit_warnings.showwarning
_audit_warnings.showwarning = _audit_showwarning
_audit_warnings.simplefilter("always", DeprecationWarning)
_audit_warnings.simplefilter("always", FutureWarning)
"""
_AUDIT_REPORT = "import json as _audit_json; print(_audit_json.dumps(_audit_found))"


class NotebookError(RuntimeError):
    """The notebook failed the gate; the message names the notebook and the cell or file."""


def parameters_cell(parameters: dict) -> str:
    """papermill's injected-parameters source: one ``name = repr(value)`` line each."""
    return "# Parameters\n" + "".join(f"{name} = {value!r}\n" for name, value in parameters.items())


def _prepared(nb, parameters: dict, extra_cells: tuple[str, ...]):
    """The notebook with the audit first, the parameters injected, extra cells and the report last."""
    import nbformat.v4 as v4

    cells = list(nb.cells)
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    at = tagged[0] + 1 if tagged else 0
    injected = v4.new_code_cell(parameters_cell(parameters), metadata={"tags": ["injected-parameters"]})
    setup = v4.new_code_cell(f"PACKAGES = {AUDITED_PACKAGES!r}\n{_AUDIT_SETUP}")
    extra = [v4.new_code_cell(source) for source in extra_cells]
    nb.cells = [setup, *cells[:at], injected, *cells[at:], *extra, v4.new_code_cell(_AUDIT_REPORT)]
    return nb


def execute(
    notebook: str | os.PathLike,
    results_dir: str | os.PathLike,
    parameters: dict | None = None,
    *,
    extra_cells: tuple[str, ...] = (),
    threads: int | None = 1,
    timeout: int = 1800,
) -> Path:
    """Run ``notebook`` with ``parameters`` (plus ``results_dir``); return its results file.

    ``extra_cells`` run after the notebook's own (tests inject a deprecated call there).
    ``threads`` pins torch's intra-op threads in the kernel (the library's tests train with 1:
    the thread count changes the last bits). Raises :class:`NotebookError` on a failing cell,
    an audited deprecation or a missing results file.
    """
    import nbformat
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook, results_dir = Path(notebook), Path(results_dir).absolute()
    nb = _prepared(
        nbformat.read(notebook, as_version=4),
        (parameters or {}) | {"results_dir": str(results_dir)},
        extra_cells,
    )
    specs = KernelSpecManager()
    specs.kernel_dirs = []  # this interpreter's own kernel, never one installed elsewhere
    env = os.environ | ({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {})
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    client = NotebookClient(
        nb, km=manager, timeout=timeout, resources={"metadata": {"path": str(notebook.parent)}}
    )
    try:
        with _kernel_env(env):
            client.execute()
    except CellExecutionError as error:
        index = next((i for i, c in enumerate(nb.cells) if _failed(c)), None)
        where = f"cell {_own_index(nb, index)}" if index is not None else "a cell"
        raise NotebookError(f"{notebook}: {where} raised {error.ename}: {error.evalue}") from None
    found = json.loads("".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout"))
    if found:
        sources = [c.source for c in nb.cells]
        lines = [
            f"  cell {_own_index(nb, sources.index(w['cell'])) if w['cell'] in sources else '?'} "
            f"{w['category']}: {w['message']} ({w['where']})"
            for w in found
        ]
        raise NotebookError(
            f"{notebook}: {len(found)} deprecation(s) raised by "
            f"{', '.join(AUDITED_PACKAGES)} from its code:\n" + "\n".join(lines)
        )
    path = results_dir / RESULTS_NAME
    if not path.is_file():
        raise NotebookError(
            f"{notebook}: ran, but wrote no results: expected {path} (the notebook must write "
            f"{RESULTS_NAME} into its `results_dir` parameter)"
        )
    return path


def _failed(cell) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def _own_index(nb, index: int) -> str:
    """A failing cell as the notebook's author counts it: 0-based among the notebook's own cells."""
    cell = nb.cells[index]
    if "injected-parameters" in cell.metadata.get("tags", []):
        return f"{index} (the injected parameters)"
    own = index - 1 - sum("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells[:index])
    first_line = next(iter(cell.source.splitlines()), "")
    return f"{own} ({first_line[:60]!r})"


class _kernel_env:
    """The kernel inherits os.environ at launch: set it for the launch, then restore it."""

    def __init__(self, env: dict):
        self.env = env

    def __enter__(self):
        self.saved = dict(os.environ)
        os.environ.update(self.env)

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self.saved)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reproduce.notebook", description=__doc__.split("\n")[0])
    parser.add_argument("notebook")
    parser.add_argument("--results", required=True, help="folder the notebook writes its results into")
    parser.add_argument(
        "-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="a parameter (JSON value)"
    )
    args = parser.parse_args(argv)
    parameters = {}
    for name, text in args.p:
        try:
            parameters[name] = json.loads(text)
        except json.JSONDecodeError:
            parameters[name] = text  # a bare string
    try:
        path = execute(args.notebook, args.results, parameters)
    except NotebookError as error:
        print(f"reproduce.notebook: error: {error}", file=sys.stderr)
        return 2
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
