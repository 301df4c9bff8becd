"""The command line's grammar: ``reproduce``'s commands and options, each argument checked as it
is read (a seed, a count, a folder that can be written to), before anything is read or trained;
a usage error is one line and exit code 2, as every known failure of the commands is (``cli``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from reproduce.training.config import DEFAULT_SEEDS, EXPERIMENTS, SCALES, SCHEDULES
from reproduce.training.datasets import DATASETS

EXIT_ERROR = 2  # a known failure, a usage error included: one line on stderr


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), not the whole usage text."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _whole_number(minimum: int, what: str, maximum: int | None = None):
    """An argparse type: an int in minimum..maximum, else "expected <what> >= <minimum>, got X"
    (or "<= <maximum>"); no maximum where it is None."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what} >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"expected {what} <= {maximum}, got {value}")
        return value

    return parse


_positive_int = _whole_number(1, "a number")
# torch takes seeds below 2**64 and the batch order draws from seed + 1000; 2**32 - 1 is also
# numpy's limit, and far more seeds than anyone will run.
_seed = _whole_number(0, "a seed", maximum=2**32 - 1)


def _folder(text: str) -> Path:
    """An argparse type: a folder that exists or can be made and written into, checked before
    anything trains (a file in the way would otherwise fail only when the first result is saved)."""
    path = Path(text).expanduser()
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not existing.is_dir() and existing == path.absolute():
        raise argparse.ArgumentTypeError(f"expected a folder, got the file {text!r}")
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r} inside the file {existing}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"expected a folder this user can write to, got {text!r}")
    return path


def _common(parser: argparse.ArgumentParser, *, seeds_default) -> None:
    parser.add_argument(
        "--seeds",
        type=_seed,
        nargs="+",
        default=seeds_default,
        help=f"seeds to run (default: {' '.join(map(str, seeds_default))})",
    )
    parser.add_argument(
        "--scale",
        choices=tuple(SCALES),
        default="lecture",
        help="lecture: all data, 10 epochs (default); smoke: a fast tenth",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--dataset", choices=tuple(DATASETS), default="mnist")
    parser.add_argument("--data-dir", help="folder with MNIST/raw (default: $REPRODUCE_DATA_DIR)")
    parser.add_argument("--out", type=_folder, required=True, help="folder to write results into")
    parser.add_argument(
        "--no-download", action="store_true", help="fail on missing data instead of downloading it"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        help="runs trained side by side on the CPU, one thread each (default: one per core)",
    )
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="per-run: each run on its own, in --workers processes (default on the CPU); "
        "stacked: every net of every run in one step (default on CUDA)",
    )


def build_parser(description: str) -> argparse.ArgumentParser:
    """``reproduce``'s parser: its commands, their options, each argument checked as it is read."""
    parser = _Parser(prog="reproduce", description=description)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="train the lecture's experiments; JSON + figures")
    run.add_argument("experiment", choices=(*EXPERIMENTS, "all"))
    run.add_argument("--losses", nargs="+", help="losses to train (default: the notebook's)")
    run.add_argument("--epochs", type=_positive_int, help="override the scale's epochs")
    _common(run, seeds_default=list(DEFAULT_SEEDS[:1]))

    claims = commands.add_parser("claims", help="judge every claim over seeds; report.md")
    claims.add_argument("--cache-dir", type=_folder, help="trained-run cache (default: per user)")
    claims.add_argument(
        "--results",
        type=Path,
        help="judge results written elsewhere (lecture22-results JSON, e.g. a course notebook's) "
        "instead of training; seeds, scale and dataset come from them",
    )
    claims.add_argument(
        "--annotate",
        metavar="FILE",
        help="print a GitHub annotation on FILE (a course's notebook) per claim that differs or is not "
        "judged and per shifted curve (course-gate.yml)",
    )
    _common(claims, seeds_default=list(DEFAULT_SEEDS))

    compare = commands.add_parser("compare", help="drift report: results against a baseline's seeds")
    compare.add_argument("baseline", type=Path, help="folder of run JSONs (e.g. an earlier claims --out)")
    compare.add_argument("results", type=Path, help="folder of run JSONs to judge against it")
    compare.add_argument("--out", type=_folder, required=True, help="folder for drift.md and drift.json")

    data_cmd = commands.add_parser("data", help="verify the dataset files (or download them)")
    data_cmd.add_argument("--dataset", choices=(*DATASETS, "all"), default="all")
    data_cmd.add_argument("--data-dir", help="folder with MNIST/raw (default: $REPRODUCE_DATA_DIR)")
    data_cmd.add_argument("--download", action="store_true", help="fetch missing files first")
    return parser
