"""Negative controls: every claim check says "refuted" when fed results that violate it.

A synthetic study (hand-made curves, no training) on which every claim holds is checked
first; then each claim gets one violation and must flip to refuted. This proves the claim
tests can fail, and that each check reads the numbers its claim is about.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest

from reproduce.judging.claims import BY_ID, CLAIMS
from reproduce.judging.evidence import NOT_JUDGED, REFUTED, REPRODUCED
from reproduce.training.config import RunConfig
from reproduce.training.results import History, RunResult
from reproduce.training.study import FAMILIES, FIRST_SEED_ONLY, Study, family_of

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


TRAINED = [c for c in CLAIMS if c.families]
PROBED_ONLY = [c for c in CLAIMS if not c.families]


def test_every_claim_has_a_negative_control():
    assert [c.id for c in CLAIMS if c.violate is None] == []


@pytest.mark.parametrize("claim", TRAINED, ids=lambda c: c.name)
def test_check_holds_on_results_that_agree_with_the_lecture(claim):
    evidence = claim.evaluate(synthetic_study("lecture"))
    assert evidence.verdict == REPRODUCED, evidence.summary


@pytest.mark.parametrize("claim", TRAINED, ids=lambda c: c.name)
def test_check_refutes_results_that_violate_it(claim):
    study = synthetic_study("lecture")
    claim.violate(study)
    evidence = claim.evaluate(study)
    assert evidence.verdict == REFUTED, evidence.summary


def test_a_violation_of_one_claim_leaves_the_others_standing():
    study = synthetic_study("lecture")
    BY_ID["B4"].violate(study)
    assert BY_ID["B4"].evaluate(study).verdict == REFUTED
    assert BY_ID["B2"].evaluate(study).verdict == REPRODUCED


# A timing is not repeatable under load, and test_claims.py already judges the real one: its
# negative control starts from a measurement that holds (an idle EPYC one, from A9's bounds).
AGREEING_TIMINGS = {"A9": {"loss": 2.31, "step": 0.91}}


@pytest.fixture(scope="module")
def probed():
    """Each probe-only claim's measurement: the real one where it is deterministic."""
    return {claim.id: AGREEING_TIMINGS.get(claim.id) or claim.probe() for claim in PROBED_ONLY}


@pytest.mark.parametrize("claim", PROBED_ONLY, ids=lambda c: c.name)
def test_probed_check_holds_on_a_measurement_that_agrees(claim, probed):
    evidence = claim.check(None, claim.bounds_at(None, None), copy.deepcopy(probed[claim.id]))
    assert evidence.verdict == REPRODUCED, evidence.summary


@pytest.mark.parametrize("claim", PROBED_ONLY, ids=lambda c: c.name)
def test_probed_check_refutes_a_measurement_that_violates_it(claim, probed):
    measurement = copy.deepcopy(probed[claim.id])
    claim.violate(measurement)
    evidence = claim.check(None, claim.bounds_at(None, None), measurement)
    assert evidence.verdict == REFUTED, evidence.summary


def only_the_nets_of(claim, study: Study) -> Study:
    """The study cut down to exactly the nets the claim declares: in their family, and for a
    replayed one in any run of its experiment (the replay may be another family's, as for B3)."""

    def wanted(config, loss):
        return any(
            loss in n.losses
            and (family_of(config) == n.family or (n.replayed and config.experiment == n.experiment))
            for n in claim.nets
        )

    kept = []
    for result in study.results:
        losses = tuple(loss for loss in result.config.losses if wanted(result.config, loss))
        if losses:
            config = dataclasses.replace(result.config, losses=losses)
            kept.append(RunResult(config, {k: result.histories[k] for k in losses}, {}, 0.0))
    return Study.of(kept)


@pytest.mark.parametrize("claim", TRAINED, ids=lambda c: c.name)
def test_a_claim_reads_only_the_nets_it_declares(claim):
    """Judged on its declared nets alone, a claim gives the verdict it gives on the whole study,
    so what it says it reads (the not-judged reasons, the training plan) is what it reads."""
    alone = claim.evaluate(only_the_nets_of(claim, synthetic_study("lecture")))
    assert alone.verdict == REPRODUCED, alone.summary
    violated = synthetic_study("lecture")
    claim.violate(violated)
    assert claim.evaluate(only_the_nets_of(claim, violated)).verdict == REFUTED


@pytest.mark.parametrize("claim", TRAINED, ids=lambda c: c.name)
def test_a_claim_missing_one_declared_net_is_not_judged_naming_it(claim):
    nets = claim.nets[-1]
    study = synthetic_study("lecture")
    for result in study.results:
        if family_of(result.config) == nets.family:
            result.histories.pop(nets.losses[-1], None)
    evidence = claim.evaluate(study)
    assert evidence.verdict == NOT_JUDGED
    assert (
        f"needs {nets.describe()}; the results have no {nets.losses[-1]} {nets.family} nets"
        == evidence.summary
    )


@pytest.mark.parametrize("claim", TRAINED, ids=lambda c: c.name)
def test_nan_results_are_never_a_verdict(claim):
    """A NaN in every curve of the nets it reads: "not judged", neither reproduced nor refuted."""
    study = synthetic_study("lecture")
    for result in study.results:
        for h in result.histories.values():
            h.train_loss[:] = [math.nan] * len(h.train_loss)
            for curve in h.metrics.values():
                curve[:] = [math.nan] * len(curve)
            h.untrained.update(dict.fromkeys(h.untrained, math.nan))
    assert claim.evaluate(study).verdict == NOT_JUDGED


def test_a_replay_that_differs_leaves_the_init_claims_not_judged():
    """An unseeded batch order: the nets start apart, but so would two runs of one net."""
    study = synthetic_study("lecture")
    study.replays[0].histories["mse"].train_loss[2] += 1e-3
    evidence = BY_ID["A5"].evaluate(study)
    assert evidence.verdict == NOT_JUDGED
    assert evidence.summary.startswith(
        "1 of 2 nets trained twice from one seed and init differ, e.g. seed 0's mse"
    )
