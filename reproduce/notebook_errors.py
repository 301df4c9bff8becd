"""What a failed notebook run says: the cell whose code raised, as the notebook's author counts cells.

A notebook executed by :mod:`reproduce.notebook` has cells of the gate's own (the audit, the
injected parameters); its messages name a cell by its index among the author's cells and its first
line, and a failing cell where its code raised (a function defined in one cell, called from
another, names both).
"""

from __future__ import annotations

import re
from pathlib import Path


class ExecutionLog:
    """Which cell of the executed notebook ran as ``In[N]``, and the cell that failed.

    IPython's traceback names notebook frames ``Cell In[N], line M``, N being the kernel's
    execution count, which the execute reply carries (the ``execution_count`` nbclient writes on a
    cell is its own count of the cells it sent).
    """

    def __init__(self):
        self.by_count: dict[int, int] = {}
        self.failed: tuple[int, dict] | None = None

    def executed(self, cell, cell_index: int, execute_reply: dict) -> None:
        count = execute_reply.get("content", {}).get("execution_count")
        if isinstance(count, int):
            self.by_count[count] = cell_index

    def error(self, cell, cell_index: int, execute_reply: dict) -> None:
        self.executed(cell, cell_index, execute_reply)
        self.failed = (cell_index, execute_reply.get("content", {}))


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CELL_FRAME = re.compile(r"Cell In\[(\d+)\], line (\d+)")


def raising_frame(traceback: list[str], by_count: dict[int, int]) -> tuple[int, int] | None:
    """(cell index, line) of the innermost notebook frame in an IPython traceback, or None."""
    frames = _CELL_FRAME.findall(_ANSI.sub("", "\n".join(traceback)))
    if not frames or int(frames[-1][0]) not in by_count:
        return None
    count, line = frames[-1]
    return by_count[int(count)], int(line)


def cell_error(notebook: Path, nb, log: ExecutionLog, error) -> str:
    """One line naming the cell whose code raised, its line, and the cell that called it.

    The executing cell alone would mislead: a function defined in cell 11 and called from cell 13
    raises in cell 11's code.
    """
    if log.failed is None:  # no reply recorded: the executing cell, as nbclient saw it
        index = next((i for i, c in enumerate(nb.cells) if _failed(c)), None)
        where = f"cell {own_index(nb, index)}" if index is not None else "a cell"
        return f"{notebook}: {where} raised {error.ename}: {one_line(error.evalue)}"
    executing, reply = log.failed
    raised = f"raised {reply.get('ename', error.ename)}: {one_line(reply.get('evalue', error.evalue))}"
    frame = raising_frame(reply.get("traceback") or [], log.by_count)
    if frame is None:
        return f"{notebook}: cell {own_index(nb, executing)} {raised}"
    cell, line = frame
    called = "" if cell == executing else f" (called from cell {own_index(nb, executing)})"
    return f"{notebook}: cell {own_index(nb, cell)}, line {line}, {raised}{called}"


def one_line(text: str) -> str:
    """A multi-line message (an exception's value) as one line, for the CLI's one-line errors."""
    return " ".join(line.strip() for line in str(text).strip().splitlines() if line.strip())


def _failed(cell) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def label(index: int, cell) -> str:
    """``index ('first line')``: a cell as its author finds it."""
    first_line = next(iter(cell.source.splitlines()), "")
    return f"{index} ({first_line[:60]!r})"


def own_index(nb, index: int) -> str:
    """A cell of the executed notebook as its author counts it: 0-based among the notebook's own cells."""
    cell = nb.cells[index]
    if "injected-parameters" in cell.metadata.get("tags", []):
        return f"{index} (the injected parameters)"
    own = index - 1 - sum("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells[:index])
    return label(own, cell)
