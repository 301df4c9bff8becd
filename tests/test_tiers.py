"""The tiers proved: with the exact tier out of play, small real mistakes still fail the gate.

Each case applies one realistic one-line mistake to a copy of ``reproduce/``, trains the smoke
study on it (seeds 0 1 2, one thread, in a subprocess that imports the copy), and judges the
result as a run in another environment would be judged: the distribution tier against the
committed reference, and every trained claim against its expected verdict. Every mistake must
fail one of them, and the paired tier alone (the same seeds against the CPU baseline's, within
the measured floating-point noise: reproduce/judging/paired.py); the unmodified code on seeds the
reference never saw must pass both.
Slow: six smoke studies (about 3 minutes on 2 cores).

At lecture scale three mistakes (SSIM's K2 0.05, the learning rate 1.5e-4, pixels / 256) train
the regression runs of seeds 0 1 2 and must fail the paired tier, and all but pixels / 256 (its
measured blind spot) the distribution tier against the lecture reference (13 seeds no test
trains). About 40 minutes on 2 cores beside another training job, so outside the default run:
``pytest tests/test_tiers.py --mistakes-at-lecture-scale``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reproduce.judging import distribution, paired, references
from reproduce.judging.claims import CLAIMS
from reproduce.training.config import DEFAULT_SEEDS, SCALES
from reproduce.training.datasets import DATASETS

BY_NAME = {c.name: c for c in CLAIMS}

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("regression", "classification", "shared_init")
MISTAKES = {  # name: (file, the line as it is, the line with the mistake)
    "learning-rate": ("training/config.py", "lr: float = 1e-4", "lr: float = 1.5e-4"),
    "ssim-constant": ("training/metrics.py", "K1, K2 = 0.01, 0.03", "K1, K2 = 0.01, 0.05"),
    "activation": (
        "training/models.py",
        "nn.Linear(28 * 28, 400), nn.Tanh())",
        "nn.Linear(28 * 28, 400), nn.Sigmoid())",
    ),
    "loss-average": (
        "training/train.py",
        "per_batch.double().mean().item()",
        "per_batch.double().sum().item() / (len(per_batch) + 1)",
    ),
    "pixel-scaling": ("training/data.py", "images.float().div(255)", "images.float().div(256)"),
}
# SSIM's K2 is the smallest that the tier catches at lecture scale (+9.1 sds); pixels / 256 moved
# no summary of seeds 0 1 2 by more than 2.8 sds there (p 0.001, Holm's first threshold 2.5e-5),
# within the tier's measured blind spot (a 3-sd shift is caught in 1-4 % of 3-seed subsets).
# The paired tier must catch every lecture-scale mistake, pixels / 256 included (issue 24).
LECTURE_MISTAKES = ("ssim-constant", "learning-rate", "pixel-scaling")
DISTRIBUTION_BLIND_SPOT = ("pixel-scaling",)
CARD_MISTAKE = "learning-rate"
# Seeds no reference ever saw (test_the_reference_seeds_are_disjoint_from_every_tested_seed).
UNSEEN_SEEDS = (10, 11, 12)
CARD_SEEDS = tuple(range(20, 26))
STUDY = """
import json, sys, torch
from reproduce.training import data
from reproduce.judging.claims import CLAIMS
from reproduce.training.results import RunCache
from reproduce.training.study import train_study
torch.set_num_threads(1)
seeds, cache, data_dir, scale, families = json.loads(sys.argv[1]), *sys.argv[2:5], json.loads(sys.argv[5])
schedule = sys.argv[6]
workers = 2 if scale == "lecture" else 1  # the smoke cases run beside others under -n 2
study = train_study(
    seeds, data_dir=data_dir, cache=RunCache(cache), scale=scale, families=families, workers=workers,
    schedule=schedule,
)
judged = [c for c in CLAIMS if c.families and set(c.families) <= set(families)]
verdicts = {c.name: c.evaluate(study).verdict for c in judged}
runs = {f: {str(r.config.seed): {"histories": {k: vars(h) for k, h in r.histories.items()}}
            for r in study.runs[f]} for f in study.runs}
environment = study.results[0].environment
print(json.dumps({"verdicts": verdicts, "runs": runs, "environment": environment}))
"""


def study(
    package: Path, seeds, data_dir: Path, tmp_path: Path, scale="smoke", families=FAMILIES, schedule="per-run"
) -> dict:
    """The study trained by the ``reproduce`` package at ``package``'s parent (the replicate run
    too at smoke scale: claim A5 reads it), on ``schedule`` (config.SCHEDULES)."""
    families = [*families, "replicate"] if scale == "smoke" else list(families)
    env = os.environ | {"PYTHONPATH": str(package.parent), "OMP_NUM_THREADS": "1"}
    args = [
        json.dumps(list(seeds)),
        str(tmp_path / "runs"),
        str(data_dir),
        scale,
        json.dumps(families),
        schedule,
    ]
    done = subprocess.run(
        [sys.executable, "-c", STUDY, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def failures(trained: dict, scale: str = "smoke") -> list[str]:
    """What the gate says with the exact tier out of play (in drift mode, or no baselines of this
    device's at all): distribution shifts against the CPU reference, claim flips."""
    found = []
    reference = references.load("mnist", scale)  # the CPU baselines' (tests/test_references.py)
    for family in set(FAMILIES) & set(trained["runs"]):
        shifts = distribution.significant(distribution.shifts(trained["runs"][family], reference[family]))
        found += [f"{family}: {s.describe()}" for s in shifts[:2]]
    found += [
        f"{name} {verdict}"
        for name, verdict in trained["verdicts"].items()
        if verdict != BY_NAME[name].expected_at("mnist", scale)
    ]
    return found


def paired_failures(trained: dict, scale: str = "smoke") -> list[str]:
    """What the paired tier alone says: the trained seeds against the CPU baseline's same seeds,
    beyond the measured floating-point noise (or draws that differ under the baseline's torch)."""
    baseline = paired.shipped("mnist", scale)
    found = []
    for family in set(FAMILIES) & set(trained["runs"]):
        verdict = baseline.judge(family, trained["runs"][family], trained["environment"])
        assert verdict.judged or verdict.failed, f"{family}: not paired: {verdict.note}"
        found += [f"{family}: {d.describe()}" for d in verdict.beyond[:2]]
        found += [f"{family}: {verdict.note}"] if verdict.failed and not verdict.judged else []
    return found


def mistaken_copy(mistake: str, tmp_path: Path) -> Path:
    """A copy of reproduce/ with the one-line mistake in it."""
    module, right, wrong = MISTAKES[mistake]
    package = tmp_path / "copy" / "reproduce"
    shutil.copytree(ROOT / "reproduce", package)
    source = (package / module).read_text()
    assert source.count(right) == 1, f"{module} no longer has {right!r}: update MISTAKES"
    (package / module).write_text(source.replace(right, wrong))
    return package


@pytest.mark.slow
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_small_mistake_fails_without_the_exact_tier(mistake, data_dir, tmp_path):
    """Each mistake fails the distribution tier or a claim, and the paired tier alone."""
    trained = study(mistaken_copy(mistake, tmp_path), DEFAULT_SEEDS, data_dir, tmp_path)
    assert failures(trained), f"{mistake} went through the distribution tier and the claims"
    assert paired_failures(trained), f"{mistake} went through the paired tier"


@pytest.mark.slow
@pytest.mark.parametrize("mistake", LECTURE_MISTAKES)
def test_a_small_mistake_at_lecture_scale_fails_the_tiers(mistake, data_dir, tmp_path, request):
    if not request.config.getoption("--mistakes-at-lecture-scale"):
        pytest.skip(
            "about 10 minutes each on 2 cores: pytest tests/test_tiers.py --mistakes-at-lecture-scale"
        )
    trained = study(
        mistaken_copy(mistake, tmp_path), DEFAULT_SEEDS, data_dir, tmp_path, "lecture", ("regression",)
    )
    found = failures(trained, "lecture")
    if mistake not in DISTRIBUTION_BLIND_SPOT:
        assert any(f.startswith("regression: ") for f in found), (
            f"{mistake} went through the distribution tier"
        )
    assert paired_failures(trained, "lecture"), f"{mistake} went through the paired tier"


@pytest.mark.slow
def test_the_unmodified_code_on_unseen_seeds_passes(data_dir, tmp_path):
    package = tmp_path / "copy" / "reproduce"
    shutil.copytree(ROOT / "reproduce", package)
    assert failures(study(package, UNSEEN_SEEDS, data_dir, tmp_path)) == []


@pytest.mark.slow
def test_the_stacked_schedule_passes_where_a_card_has_no_baselines(data_dir, tmp_path):
    """A card without baselines of its own trains the stacked schedule and is judged by the CPU
    reference and the claims (tests/test_baselines.py). On the CPU, over 6 seeds the reference
    never saw: nothing shifted, every verdict as expected."""
    package = tmp_path / "copy" / "reproduce"
    shutil.copytree(ROOT / "reproduce", package)
    assert failures(study(package, CARD_SEEDS, data_dir, tmp_path, schedule="stacked")) == []


@pytest.mark.slow
def test_a_small_mistake_fails_a_card_without_baselines(data_dir, tmp_path):
    """The same judgement catches a real regression that flips no claim: the learning rate
    1.5e-4, seeds 20-22 (measured: every claim as expected; l1's final training loss -119 sds,
    CE's -23 sds)."""
    trained = study(
        mistaken_copy(CARD_MISTAKE, tmp_path), CARD_SEEDS[:3], data_dir, tmp_path, schedule="stacked"
    )
    found = failures(trained)
    shifted = [f for f in found if f.split(":")[0] in FAMILIES]
    assert shifted and len(shifted) == len(found), f"{CARD_MISTAKE}: {found}"


def test_the_reference_seeds_are_disjoint_from_every_tested_seed():
    """The seeds judged "unseen" here and the baselines' own seeds are in no reference (issue 24):
    a seed judged against a distribution it is part of passes more easily than a new one."""
    tested = set(DEFAULT_SEEDS) | set(UNSEEN_SEEDS) | set(CARD_SEEDS)
    for dataset in DATASETS:
        for scale in SCALES:
            for family, reference in references.load(dataset, scale).items():
                seen = tested & set(reference["seeds"])
                assert not seen, (
                    f"{dataset} {scale} {family}: the reference holds tested seeds {sorted(seen)}"
                )
