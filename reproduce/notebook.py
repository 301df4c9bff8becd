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

Refused before the kernel starts, each in one line: a notebook with no cell tagged ``parameters``,
a parameter that cell does not assign, and a results folder that already holds the results file
(the gate judges only what this execution writes). A failing cell is named where its code raised
(a function defined in one cell, called from another, names both: ``reproduce.notebook_errors``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from pathlib import Path

from reproduce.notebook_errors import ExecutionLog, cell_error, label, one_line, own_index

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


def assigned_names(source: str) -> list[str]:
    """The names a cell binds at top level by assignment, in order: the parameters it declares.

    An injected ``name = value`` only takes effect if the notebook's own parameters cell assigns
    ``name`` too (otherwise the notebook never meant to read it). IPython magics are translated
    first, so a ``%matplotlib inline`` in that cell does not read as a syntax error.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    names = []
    for node in ast.parse(TransformerManager().transform_cell(source)).body:
        if isinstance(node, ast.Assign):
            names += [name for target in node.targets for name in _target_names(target)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            names += _target_names(node.target)
    return list(dict.fromkeys(names))


def _target_names(target: ast.expr) -> list[str]:
    """Plain names in an assignment target (``a``, ``a, b``, ``[a, *b]``); attributes bind no name."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    return []


TAG_HELP = (
    "tag the cell that assigns them: in Jupyter Notebook 7 / JupyterLab select the cell, open the "
    'property inspector (gear icon, right sidebar) and "Add Tag" parameters; in classic Notebook use '
    'View > Cell Toolbar > Tags; or add "tags": ["parameters"] to the cell\'s metadata'
)


def check_parameters(notebook: Path, nb, names) -> int:
    """The index of the parameters cell, once it is known to assign every name in ``names``.

    Without this a parameter is silently ignored: with no tagged cell the injected cell would run
    first and the notebook's own assignments overwrite it; with a name the cell does not assign the
    notebook never reads it. papermill injects after the first tagged cell, so that one is checked.
    """
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise NotebookError(
            f"{notebook}: no cell is tagged `parameters`, so the parameters ({', '.join(names)}) cannot "
            f"be injected (results_dir included: the gate always passes it); {TAG_HELP}"
        )
    index = tagged[0]
    cell = nb.cells[index]
    where = f"cell {label(index, cell)}, the cell tagged `parameters`"
    if cell.cell_type != "code":
        raise NotebookError(f"{notebook}: {where}, is a {cell.cell_type} cell; tag the code cell instead")
    try:
        sets = assigned_names(cell.source)
    except (SyntaxError, ValueError) as error:
        detail = f"{error.msg}, line {error.lineno}" if isinstance(error, SyntaxError) else str(error)
        raise NotebookError(
            f"{notebook}: {where}, does not parse ({detail}), so the parameters it sets cannot be checked"
        ) from None
    unknown = [name for name in names if name not in sets]
    if unknown:
        which = f"parameter {unknown[0]} is" if len(unknown) == 1 else f"parameters {', '.join(unknown)} are"
        raise NotebookError(
            f"{notebook}: {which} not assigned at top level by {where}, so the injection would "
            f"be ignored; that cell sets: {', '.join(sets) or 'nothing'}"
        )
    return index


def refuse_existing_results(notebook: Path, results_dir: Path) -> None:
    """Refuse a results folder that already holds the results file.

    Otherwise a notebook that writes nothing would pass on an older run's results. The gate judges
    only what this execution writes, and it deletes or overwrites nothing: so the caller decides.
    """
    path = results_dir / RESULTS_NAME
    if os.path.lexists(path):
        raise NotebookError(
            f"{notebook}: {path} already exists: the gate judges only the results this execution "
            "writes, and deletes or overwrites nothing, so nothing already written is lost; "
            "remove it, or pass an empty results folder"
        )


def _read(notebook: Path):
    """The notebook as nbformat v4, or a one-line NotebookError naming it."""
    import nbformat

    try:
        return nbformat.read(notebook, as_version=4)
    except (OSError, ValueError) as error:  # missing, unreadable, not JSON, not a notebook
        raise NotebookError(f"{notebook}: cannot read the notebook: {one_line(str(error))}") from None


def _prepared(nb, at: int, parameters: dict, extra_cells: tuple[str, ...]):
    """The notebook to run: the audit, its cells with the parameters injected after cell ``at``
    (the parameters cell), the extra cells, the audit's report."""
    import nbformat.v4 as v4

    cells = list(nb.cells)
    injected = v4.new_code_cell(parameters_cell(parameters), metadata={"tags": ["injected-parameters"]})
    setup = v4.new_code_cell(f"PACKAGES = {AUDITED_PACKAGES!r}\n{_AUDIT_SETUP}")
    extra = [v4.new_code_cell(source) for source in extra_cells]
    nb.cells = [setup, *cells[: at + 1], injected, *cells[at + 1 :], *extra, v4.new_code_cell(_AUDIT_REPORT)]
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
    the thread count changes the last bits). Raises :class:`NotebookError`, before the kernel
    starts, on a missing or incomplete parameters cell or an existing results file; after, on a
    failing cell, an audited deprecation or a missing results file.
    """
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook, results_dir = Path(notebook), Path(results_dir).absolute()
    nb = _read(notebook)
    parameters = (parameters or {}) | {"results_dir": str(results_dir)}
    at = check_parameters(notebook, nb, list(parameters))
    refuse_existing_results(notebook, results_dir)
    nb = _prepared(nb, at, parameters, extra_cells)
    specs = KernelSpecManager()
    specs.kernel_dirs = []  # this interpreter's own kernel, never one installed elsewhere
    env = os.environ | ({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {})
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs, **_transport_encryption())
    log = ExecutionLog()
    client = NotebookClient(
        nb,
        km=manager,
        timeout=timeout,
        resources={"metadata": {"path": str(notebook.parent)}},
        on_cell_executed=log.executed,
        on_cell_error=log.error,
    )
    try:
        with _kernel_env(env):
            client.execute(cleanup_kc=True)  # shut the kernel down: nbclient keeps one it did not start
    except CellExecutionError as error:
        raise NotebookError(cell_error(notebook, nb, log, error)) from None
    except CellTimeoutError:
        raise NotebookError(f"{notebook}: a cell ran longer than the {timeout} s allowed per cell") from None
    except DeadKernelError as error:
        raise NotebookError(f"{notebook}: the kernel died (out of memory?): {one_line(str(error))}") from None
    found = json.loads("".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout"))
    if found:
        sources = [c.source for c in nb.cells]
        lines = [
            f"  cell {own_index(nb, sources.index(w['cell'])) if w['cell'] in sources else '?'} "
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


def _transport_encryption() -> dict:
    """CurveZMQ keys for the kernel's sockets, where this jupyter_client and pyzmq provide them.

    ipykernel 7 prints "[IPKernelApp] WARNING | Kernel is running over TCP without encryption" on
    every launch over plain TCP. With keys provisioned by the manager (fresh per launch, in the
    connection file only it and the kernel read) the channels are encrypted, so the warning no
    longer applies and is not printed; the kernel's log level is untouched, every other warning
    and error still reaches stderr. "auto" provisions only for a kernelspec that declares Curve
    support (ipykernel 7's does); an older ipykernel neither declares it nor warns, and a
    jupyter_client without the option, or a libzmq without Curve, launches as before.
    """
    import zmq
    from jupyter_client import KernelManager

    if zmq.has("curve") and "transport_encryption" in KernelManager.class_trait_names():
        return {"transport_encryption": "auto"}
    return {}


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
