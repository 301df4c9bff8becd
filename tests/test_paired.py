"""The paired tier (reproduce/judging/paired.py): the baseline's seeds trained again on other bits, each
judged against the baseline's same seed and the measured floating-point noise.

The twins are real other-bits runs of the tested seeds (benchmarks/results/twins/: another CPU,
the AVX2 EPYC's committed baselines, foreach Adam, the stacked schedule, two threads, torch
2.15); the noise files are derived from them (benchmarks/paired_noise.py derive).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
from pathlib import Path

import pytest
from baseline_noise import TWINS, paired_power

from reproduce.judging import compare, paired, references
from reproduce.training.config import SCALES
from reproduce.training.datasets import DATASETS

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [(d, s) for d in DATASETS for s in SCALES]
TWIN_FILES = sorted(TWINS.glob("*/*.json"))


def load_derive():
    spec = importlib.util.spec_from_file_location("paired_noise", ROOT / "benchmarks" / "paired_noise.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def close(a, b) -> bool:
    """Equal documents, numbers to a millionth (or a billionth of a seed sd): Python 3.12's sum()
    of floats compensates its rounding, and a difference of nearly equal numbers (a summary's
    mean over epochs, fresh minus baseline) keeps that change: measured, 3.12 against 3.11 moved
    the derived noise by up to 4e-9 relative, and a 6e-11-sd difference by 5e-15 sds."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def twin(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("dataset_scale", SETTINGS, ids="-".join)
def test_the_noise_files_are_derived_from_the_twins(dataset_scale):
    """Every shipped noise file is what its twins give today (nothing edited by hand), and
    every setting has one: at least two twins, so that its factor was derived by leaving one out."""
    dataset, scale = dataset_scale
    shipped = paired.load_noise(dataset, scale)
    assert close(shipped, load_derive().derive_setting(dataset, scale)), (
        "the noise file and its twins differ: run python benchmarks/paired_noise.py derive"
    )
    assert len(shipped["twins"]) >= 2 and all(f >= 2 for f in shipped["factor"].values())


@pytest.mark.parametrize("path", TWIN_FILES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_every_twin_of_other_bits_passes(path):
    """No false alarm on any real pair of other bits: the draws match, every summary within."""
    found = twin(path)
    baseline = paired.shipped(found["dataset"], found["scale"])
    for family, seeds in found["seeds"].items():
        verdict = baseline.judge(family, seeds, found["environment"])
        assert verdict.draws_match and not verdict.failed, [d.describe() for d in verdict.beyond]
        assert verdict.seeds == [0, 1, 2] and verdict.judged


# Measured by python tests/baseline_noise.py paired 1 (per twin; docs/tiers.md's paired-tier table):
# a 1-sd shift is caught in 100 % of every family's curves at both MNIST scales, but for the
# lecture-scale classifiers' final values, whose noise is a few test images in 10000 (up to 0.62
# seed sds between twins, the stacked schedule's): 62-75 % of the classification family's curves
# there (the shared-init family: 100 %). The floors leave room for the next twin's noise.
POWER_FLOOR = {"final value": 0.9, "whole curve": 0.9}
LECTURE_CLASSIFIER_FINAL = 0.5


@pytest.mark.parametrize("scale", SCALES)
def test_a_one_sd_shift_is_caught_on_other_bits(scale):
    """Each MNIST twin with one curve moved by 1 reference sd (its final value, or every epoch):
    the paired tier fails the family for >= 90 % of its curves; the distribution tier, on the same
    three seeds, for none (issue 18: 1 sd is below anything it catches)."""
    for (label, family, shape), rate in paired_power("mnist", scale).items():
        floor = POWER_FLOOR[shape]
        if (scale, shape) == ("lecture", "final value") and family != "regression":
            floor = LECTURE_CLASSIFIER_FINAL
        assert rate["paired"] >= floor, f"{label} {family} {shape}: {rate}"
        assert rate["paired"] > rate["distribution"], f"{label} {family} {shape}: {rate}"


def shuffled_seeds(seeds: dict) -> dict:
    """Seed 0's place holds seed 1's runs and so on: other draws under the same seed numbers."""
    names = sorted(seeds, key=int)
    return {name: seeds[names[(i + 1) % len(names)]] for i, name in enumerate(names)}


def test_draws_that_differ_fail_under_the_baselines_torch_and_step_aside_under_another():
    baseline = paired.shipped("mnist", "smoke")
    seeds = shuffled_seeds(baseline.seeds["regression"])
    same = baseline.judge("regression", seeds, baseline.environment)
    assert same.failed and not same.draws_match and not same.judged
    assert same.note.startswith("draws differ under the baseline's torch: seed 0 ")
    assert "/untrained/" in same.note
    other = baseline.judge("regression", seeds, baseline.environment | {"torch": "2.15.0+cu132"})
    assert not other.failed and not other.draws_match and not other.judged
    assert "the distribution tier judges alone" in other.note
    line = compare.paired_line("regression", other.as_dict())
    assert line.startswith("paired  regression: draws differ (seed 0 ")


def test_a_build_of_the_same_release_draws_the_same():
    assert paired.torch_release({"torch": "2.14.1+cu130"}) == paired.torch_release({"torch": "2.14.1+cpu"})


def test_a_nan_is_beyond_any_allowance():
    baseline = paired.shipped("mnist", "smoke")
    seeds = copy.deepcopy(baseline.seeds["classification"])
    seeds["1"]["histories"]["ce"]["metrics"]["accuracy"][-1] = math.nan
    verdict = baseline.judge("classification", seeds, baseline.environment)
    assert verdict.failed and [d.curve for d in verdict.beyond] == ["ce/accuracy", "ce/accuracy"]


def test_one_test_image_is_always_within_the_noise():
    """Accuracy moves in whole test images, and any bits can flip one: the resolution floor."""
    baseline = paired.shipped("mnist", "smoke")
    seeds = copy.deepcopy(baseline.seeds["classification"])
    image = 100 / SCALES["smoke"].test_size
    for run in seeds.values():
        run["histories"]["multimargin"]["metrics"]["accuracy"][-1] += image
    assert not baseline.judge("classification", seeds, baseline.environment).failed


def test_the_paired_tier_catches_what_the_distribution_tier_cannot():
    """The baseline's seeds with the MSE net's SSIM 0.5 % lower in every epoch: inside the
    reference distribution (-1.0 sds at most), hundreds of times its floating-point noise
    (measured: mse/ssim mean -769 x the noise, -0.77 seed sds; the bound asks for 100)."""
    baseline = paired.shipped("mnist", "smoke")
    seeds = copy.deepcopy(baseline.seeds["regression"])
    for run in seeds.values():
        curve = run["histories"]["mse"]["metrics"]["ssim"]
        curve[:] = [v * 0.995 for v in curve]
    reference = references.load("mnist", "smoke")["regression"]
    verdict = baseline.judge("regression", seeds, baseline.environment).as_dict()
    assert verdict["failed"] and verdict["beyond"][0].startswith("mse/ssim ")
    assert verdict["largest_in_noise"] < -100 and -2 < verdict["largest_in_sds"] < 0
    assert compare.paired_line("regression", verdict).startswith("paired  regression: seeds 0 1 2, ")
    from reproduce.judging import distribution

    assert not distribution.significant(distribution.shifts(seeds, reference))


def test_without_measured_noise_nothing_is_paired_and_it_is_said():
    shipped = paired.shipped("mnist", "smoke")
    baseline = paired.Baseline(shipped.seeds, shipped.environment, shipped.references, None)
    verdict = baseline.judge("regression", shipped.seeds["regression"], shipped.environment)
    assert not verdict.judged and not verdict.failed and "no floating-point noise measured" in verdict.note


def test_no_common_seed_is_said():
    baseline = paired.shipped("mnist", "smoke")
    seeds = {str(int(s) + 50): run for s, run in baseline.seeds["regression"].items()}
    verdict = baseline.judge("regression", seeds, baseline.environment)
    assert not verdict.judged and not verdict.failed and verdict.note.startswith("no seed in common")
