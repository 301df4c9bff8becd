"""The reference distributions shipped in the package: what results are judged against anywhere.

One file per dataset and scale, ``reproduce/judging/references/<dataset>-<scale>.json``, holding per
family the ``reference`` of this repository's CPU baseline (mean, sd and n over seeds of every
curve's summaries and every epoch; ``reproduce.judging.distribution``), the tested seeds' histories (for
the paired tier, ``reproduce.judging.paired``) and the environment they were made in. They are
copies, so that a gate installed with pip, outside this repository, judges a course's curves as
the repository's own tests judge its runs; ``tests/test_references.py`` fails when a copy and its
baseline differ. After the baselines change: ``python -m reproduce.judging.references baselines/cpu``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reproduce.training.config import SCALES
from reproduce.training.datasets import DATASETS
from reproduce.training.study import DISTINCT_FAMILIES

FOLDER = Path(__file__).parent / "references"
FORMAT = "lecture22-reference"


def path(dataset: str, scale: str) -> Path:
    return FOLDER / f"{dataset}-{scale}.json"


def load(dataset: str, scale: str) -> dict[str, dict]:
    """``{family: reference}`` for a dataset and scale; ValueError naming the file if absent."""
    file = path(dataset, scale)
    if not file.is_file():
        raise ValueError(f"no reference distribution for {dataset} at {scale} scale ({file} is missing)")
    return json.loads(file.read_text())["families"]


def baseline_seeds(dataset: str, scale: str) -> tuple[dict[str, dict], dict]:
    """``({family: seeds}, environment)``: the tested seeds' histories as the baselines hold
    them, and where they were trained; what the paired tier pairs a fresh run with."""
    document = json.loads(path(dataset, scale).read_text())
    return document["seeds"], document["environment"]


def from_baselines(folder: Path, dataset: str, scale: str) -> dict:
    """The shipped document for one setting, read from ``folder`` (``baselines/cpu``)."""
    families, seeds, environment = {}, {}, None
    for family in DISTINCT_FAMILIES:
        name = f"test_curves[cpu-{scale}-{dataset}-{family}].json"
        stored = json.loads((folder / dataset / "test_baselines" / name).read_text())
        families[family] = stored["reference"]
        seeds[family] = {seed: {"histories": run["histories"]} for seed, run in stored["seeds"].items()}
        environment = environment or stored["environment"]
    return {
        "format": FORMAT,
        "dataset": dataset,
        "scale": scale,
        "environment": environment,
        "families": families,
        "seeds": seeds,
    }


def main(argv=None) -> int:
    """Rewrite every shipped reference from the baselines folder given (default baselines/cpu)."""
    folder = Path((argv or sys.argv[1:] or ["baselines/cpu"])[0])
    FOLDER.mkdir(exist_ok=True)
    for dataset in DATASETS:
        for scale in SCALES:
            text = json.dumps(from_baselines(folder, dataset, scale), indent=1, sort_keys=True) + "\n"
            path(dataset, scale).write_text(text)
            print(f"wrote {path(dataset, scale)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
