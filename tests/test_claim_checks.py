"""Negative controls: every claim check says "refuted" when fed results that violate it.

A synthetic study (hand-made curves, no training) on which every claim holds is checked
first; then each claim gets one violation and must flip to refuted. This proves the claim
tests can fail, and that each check reads the numbers its claim is about.
"""

from __future__ import annotations

import copy

import pytest

from reproduce.claims import BY_ID, CLAIMS
from reproduce.config import RunConfig
from reproduce.evidence import REFUTED, REPRODUCED
from reproduce.results import History, RunResult
from reproduce.study import FAMILIES, FIRST_SEED_ONLY, Study

SEEDS = (0, 1, 2)


def curve(start, stop, epochs, seed, jitter):
    """A straight line from start to stop, shifted a little per seed."""
    step = (stop - start) / (epochs - 1)
    return [start + step * e + jitter * (seed - 1) for e in range(epochs)]


def regression_history(loss, i, seed, epochs):
    # Every claim of part A holds: SSIM rises and MAE falls, MSE above L1, Lp above MSE.
    ssim_end = {"mse": 0.60, "l1": 0.55}.get(loss, 0.65)
    mae_end = {"mse": 0.06, "l1": 0.065}.get(loss, 0.05)
    h = History(
        untrained={
            "ssim": 0.004 + 0.001 * i + 1e-5 * seed,
            "ssim_lecture": 0.01 + 0.001 * i,
            "mae": 0.47,
        }
    )
    loss_curve = curve(0.07, 0.01, epochs, seed, 1e-4)
    metrics = {
        "ssim": curve({"mse": 0.36, "l1": 0.30}.get(loss, 0.40 + 0.005 * i), ssim_end, epochs, seed, 0.002),
        "ssim_lecture": curve(0.38 + 0.01 * i, ssim_end + 0.1, epochs, seed, 0.003),
        "mae": curve(0.13, mae_end, epochs, seed, 0.001),
    }
    for e in range(epochs):
        h.record(loss_curve[e], {k: v[e] for k, v in metrics.items()})
    return h


def classification_history(loss, i, seed, epochs):
    # Every claim of part B holds: 91 -> 97 %, MultiMargin's loss lowest, NLL on raw scores fails.
    accuracy = curve(91.0 + 0.3 * i, 97.2 + 0.1 * i, epochs, seed, 0.2)
    if loss == "nll_raw":
        accuracy = [11.0 + 0.1 * e for e in range(epochs)]
    losses = (
        curve(0.3, 0.05, epochs, seed, 0.01)
        if loss == "multimargin"
        else curve(0.7 + 0.002 * i, 0.1, epochs, seed, 0.01)
    )
    h = History(untrained={"accuracy": 8.0 + i + 0.1 * seed})
    for e in range(epochs):
        h.record(losses[e], {"accuracy": accuracy[e]})
    return h


def synthetic_study(scale="lecture") -> Study:
    epochs = RunConfig.at_scale("regression", scale).epochs
    results = {}
    for family, fields in FAMILIES.items():
        for seed in SEEDS[:1] if family in FIRST_SEED_ONLY else SEEDS:
            config = RunConfig.at_scale(**fields, scale=scale, seed=seed)
            make = regression_history if config.experiment == "regression" else classification_history
            histories = {loss: make(loss, i, seed, epochs) for i, loss in enumerate(config.losses)}
            results[family, seed] = RunResult(config, histories, {}, 0.0)
    # Replays of one seed equal the originals; the shared-init NLL net equals its CE net.
    for (family, seed), result in results.items():
        if family == "replicate":
            result.histories = {
                k: copy.deepcopy(results["regression", seed].histories[k]) for k in result.histories
            }
        if family == "shared_init":
            ce = results["classification", seed].histories["ce"]
            result.histories = {"ce": copy.deepcopy(ce), "nll": copy.deepcopy(ce)}
    return Study.of(list(results.values()))


def each(study, family, loss):
    return study.histories(family, loss)


def set_last(histories, measure, value):
    for h in histories:
        h.curve(measure)[-1] = value


VIOLATIONS = {
    "A1": lambda s: [
        h.metrics["ssim"].__setitem__(-1, h.untrained["ssim"] + 0.01) for h in each(s, "regression", "l1")
    ],
    "A2": lambda s: [
        h.train_loss.__setitem__(-1, h.train_loss[0] * 0.95) for h in each(s, "regression", "mse")
    ],
    "A3": lambda s: each(s, "regression", "mse")[1].metrics["ssim"].reverse(),
    "A4": lambda s: [h.metrics["ssim_lecture"].__setitem__(0, 0.75) for h in each(s, "regression", "l1")],
    "A5": lambda s: each(s, "replicate", "mse")[0].train_loss.__setitem__(2, 0.5),
    "A6": lambda s: [h.metrics["ssim"].__setitem__(4, 0.99) for h in each(s, "regression", "l1")][:1],
    "A7": lambda s: set_last(each(s, "regression", "lp5"), "mae", 0.3),
    "B1": lambda s: set_last(each(s, "classification", "nll_raw"), "accuracy", 96.0),
    "B2": lambda s: [
        h.metrics.__setitem__("accuracy", [90.0] * len(h.train_loss))
        for loss in ("ce", "nll", "multimargin")
        for h in each(s, "classification", loss)
    ],
    "B3": lambda s: [
        h.untrained.__setitem__("accuracy", 10.0)
        for loss in ("ce", "nll")
        for h in each(s, "classification", loss)
    ],
    "B4": lambda s: [
        h.train_loss.__setitem__(3, h.train_loss[3] * 1.01) for h in each(s, "shared_init", "nll")
    ],
    "B5": lambda s: [
        h.train_loss.__init__(c.train_loss)
        for h, c in zip(each(s, "classification", "multimargin"), each(s, "classification", "ce"))
    ],
    "B6": lambda s: each(s, "classification", "nll")[0].metrics["accuracy"].reverse(),
    "B7": lambda s: set_last(each(s, "classification", "multimargin"), "train_loss", 5.0),
    "B8": lambda s: [h.train_loss.__setitem__(-1, h.train_loss[0]) for h in each(s, "regression", "lp3")],
}
TRAINED = [c for c in CLAIMS if c.families]


def test_every_trained_claim_has_a_negative_control():
    assert sorted(VIOLATIONS) == sorted(c.id for c in TRAINED)


@pytest.mark.parametrize("claim", TRAINED, ids=lambda c: c.name)
def test_check_holds_on_results_that_agree_with_the_lecture(claim):
    evidence = claim.evaluate(synthetic_study("lecture"))
    assert evidence.verdict == REPRODUCED, evidence.summary


@pytest.mark.parametrize("claim", TRAINED, ids=lambda c: c.name)
def test_check_refutes_results_that_violate_it(claim):
    study = synthetic_study("lecture")
    VIOLATIONS[claim.id](study)
    evidence = claim.evaluate(study)
    assert evidence.verdict == REFUTED, evidence.summary


def test_a_violation_of_one_claim_leaves_the_others_standing():
    study = synthetic_study("lecture")
    VIOLATIONS["B4"](study)
    assert BY_ID["B4"].evaluate(study).verdict == REFUTED
    assert BY_ID["B2"].evaluate(study).verdict == REPRODUCED
