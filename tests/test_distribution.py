"""The distribution tier (reproduce/judging/distribution.py) and test_baselines' use of it."""

from __future__ import annotations

import copy
import itertools
import random

import pytest
from baseline_noise import every_epoch
from scipy import stats
from test_baselines import refuse_unaccepted_shift, stored_reference

from reproduce.judging import distribution


@pytest.mark.parametrize(
    ("t", "df"), list(itertools.product([0.0, 0.3, 1.0, 2.262, 4.0, 12.0, 80.0], [1, 2, 4, 9, 30]))
)
def test_t_p_value_is_students(t, df):
    assert distribution.t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(t, df), rel=1e-9, abs=1e-300)


def seeds_doc(n: int, *, shift=0.0, epoch=None, seed0=0, spread=0.01) -> dict:
    """n seeds of one loss: a falling training loss and a rising accuracy, with seed noise.

    ``shift`` is added to the training loss at ``epoch`` (0-based), or at every epoch ("all")."""
    docs = {}
    for seed in range(seed0, seed0 + n):
        rng = random.Random(seed)
        loss = [1.0 / (e + 1) + rng.gauss(0, spread) for e in range(4)]
        accuracy = [80.0 + 4 * e + rng.gauss(0, 100 * spread) for e in range(4)]
        for e in range(4) if epoch == "all" else () if epoch is None else (epoch,):
            loss[e] += shift
        docs[str(seed)] = {
            "histories": {
                "ce": {"untrained": {"accuracy": 10.0}, "train_loss": loss, "metrics": {"accuracy": accuracy}}
            }
        }
    return docs


def test_reference_holds_mean_sd_and_n_of_every_curve_summary_and_epoch():
    ref = distribution.reference(seeds_doc(10))
    assert ref["n"] == 10 and ref["seeds"] == list(range(10))
    assert set(ref["curves"]) == {"ce/train_loss", "ce/accuracy", "ce/untrained/accuracy"}
    curves = [d["histories"]["ce"]["train_loss"] for d in seeds_doc(10).values()]
    loss = ref["curves"]["ce/train_loss"]
    assert loss["mean"][2] == pytest.approx(stats.tmean([c[2] for c in curves]))
    assert loss["sd"][2] == pytest.approx(stats.tstd([c[2] for c in curves]))
    assert loss["summaries"]["final"] == {"mean": loss["mean"][3], "sd": loss["sd"][3]}
    assert loss["summaries"]["mean"]["sd"] == pytest.approx(stats.tstd([sum(c) / 4 for c in curves]))
    assert set(ref["curves"]["ce/untrained/accuracy"]["summaries"]) == {"value"}


def test_other_seeds_of_the_same_training_pass():
    ref = distribution.reference(seeds_doc(10))
    assert distribution.significant(distribution.shifts(seeds_doc(3, seed0=100), ref)) == []


def test_a_shift_of_a_few_seed_sds_in_the_final_epoch_is_named():
    ref = distribution.reference(seeds_doc(10))
    found = distribution.significant(distribution.shifts(seeds_doc(3, seed0=100, shift=0.08, epoch=3), ref))
    assert [(s.curve, s.summary) for s in found] == [("ce/train_loss", "final")]
    assert found[0].in_sds == pytest.approx(8, abs=2.5)
    assert "ce/train_loss final (epoch 4)" in found[0].describe()


def test_a_whole_curve_shift_too_small_for_any_one_epoch_is_caught_by_the_mean_over_epochs():
    """2 sds at every epoch: no single epoch passes Holm at 3 fresh seeds, the mean over epochs
    does (one draw of fresh seeds; tests/baseline_noise.py power measures the rates)."""
    ref = distribution.reference(seeds_doc(20))
    fresh = seeds_doc(3, seed0=300, shift=0.02, epoch="all")
    found = distribution.significant(distribution.shifts(fresh, ref))
    assert [(s.curve, s.summary) for s in found] == [("ce/train_loss", "mean")]
    assert "ce/train_loss mean over epochs 1-4" in found[0].describe()
    per_epoch = distribution.shifts(
        fresh, distribution.reference(seeds_doc(20), every_epoch), statistic=every_epoch
    )
    assert distribution.significant(per_epoch) == []


def test_a_value_with_no_spread_must_match_exactly():
    ref = distribution.reference(seeds_doc(10))
    fresh = seeds_doc(3, seed0=100)
    fresh["100"]["histories"]["ce"]["untrained"]["accuracy"] = 10.01
    found = distribution.significant(distribution.shifts(fresh, ref))
    assert [(s.curve, s.summary) for s in found] == [("ce/untrained/accuracy", "value")]


def test_holm_rejects_in_order_and_stops_at_the_first_kept():
    found = [
        distribution.Shift("c", f"epoch {e}", 4, 0, 0, 1, p) for e, p in enumerate([1e-6, 3e-4, 0.02, 1e-5])
    ]
    assert [s.p for s in distribution.significant(found, alpha=0.001)] == [1e-6, 1e-5, 3e-4]
    assert distribution.significant(found, alpha=5e-6) == [found[0]]


def test_fresh_curves_that_the_reference_lacks_are_an_error():
    ref = distribution.reference(seeds_doc(10))
    fresh = seeds_doc(3, seed0=100)
    fresh["100"]["histories"]["nll"] = fresh["100"]["histories"]["ce"]
    with pytest.raises(ValueError, match="regenerate the reference"):
        distribution.shifts(fresh, ref)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda ref: ref.pop("curves"), "has no reference distribution"),
        (lambda ref: ref.update(n=2, seeds=[0, 1]), "2 seeds, fewer than the 5 needed"),
        (lambda ref: ref["curves"]["ce/accuracy"]["sd"].pop(), "'ce/accuracy' is damaged"),
        (lambda ref: ref["curves"]["ce/accuracy"].pop("summaries"), "predates the tier's summaries"),
    ],
)
def test_a_damaged_or_small_reference_says_how_to_fix_it(damage, message):
    ref = distribution.reference(seeds_doc(10))
    damage(ref)
    with pytest.raises(ValueError, match=message) as error:
        distribution.check_reference(ref, min_seeds=5)
    assert "--snapshot-update" in str(error.value)


def test_drift_counts_moved_numbers_and_names_the_largest_in_sds():
    stored = seeds_doc(3)
    fresh = copy.deepcopy(stored)
    fresh["1"]["histories"]["ce"]["metrics"]["accuracy"][3] += 0.5
    moved = distribution.drift(fresh, stored, distribution.reference(seeds_doc(10)))
    assert moved["moved"] == 1 and moved["of"] == 3 * 9
    assert moved["where"].startswith("seed 1 ce/accuracy [3]")
    assert 0.1 < moved["largest_in_sds"] < 2


def test_a_baseline_without_an_environment_fails_with_the_fix():
    stored = {"reference": distribution.reference(seeds_doc(10)), "seeds": seeds_doc(3)}
    with pytest.raises(pytest.fail.Exception, match="no 'environment' field; regenerate"):
        stored_reference(stored, "smoke")


def test_an_update_refuses_a_significant_shift_unless_accepted_with_a_reason():
    stored = {"environment": {}, "reference": distribution.reference(seeds_doc(10)), "seeds": seeds_doc(3)}
    shifted = seeds_doc(10, seed0=100, shift=0.08, epoch=3)
    with pytest.raises(pytest.fail.Exception, match="refusing to update.*--accept-shift"):
        refuse_unaccepted_shift(stored, shifted, "smoke", None)
    kept = refuse_unaccepted_shift(stored, shifted, "smoke", "fused Adam")
    assert kept["accepted_shift"]["reason"] == "fused Adam"
    assert "ce/train_loss final (epoch 4)" in kept["accepted_shift"]["largest"]


def test_an_update_from_a_reference_that_cannot_judge_needs_a_reason():
    old = distribution.reference(seeds_doc(3))  # the lecture's 3-seed reference before issue 18
    stored = {"environment": {}, "reference": old, "seeds": seeds_doc(3)}
    with pytest.raises(pytest.fail.Exception, match="the old reference cannot judge the new one"):
        refuse_unaccepted_shift(stored, seeds_doc(13, seed0=100), "lecture", None)
    kept = refuse_unaccepted_shift(stored, seeds_doc(13, seed0=100), "lecture", "13 seeds no test trains")
    assert kept["accepted_shift"]["largest"].startswith("not judged: the reference has 3 seeds")


def test_an_update_without_a_shift_writes_quietly():
    stored = {"environment": {}, "reference": distribution.reference(seeds_doc(10)), "seeds": seeds_doc(3)}
    assert refuse_unaccepted_shift(stored, seeds_doc(10, seed0=100), "smoke", None) == {}
    assert refuse_unaccepted_shift(None, seeds_doc(10), "smoke", None) == {}


@pytest.mark.parametrize("t", [1e200, float("inf"), float("nan")])
def test_an_enormous_or_undefined_shift_has_p_zero(t):
    assert distribution.t_two_sided_p(t, 9) == 0.0


@pytest.mark.parametrize("t", [0.0, 1e-170, -1e-200, 1e-9])
def test_no_shift_or_a_vanishing_one_has_p_one(t):
    assert distribution.t_two_sided_p(t, 9) == 1.0


def test_curves_far_from_normal_are_left_to_the_exact_tier():
    """The first test image's SSIM and the diverging nll_raw control: no summaries, no test."""
    ref_seeds, fresh = seeds_doc(10), seeds_doc(3, seed0=100)
    for docs, level in ((ref_seeds, 0.4), (fresh, 0.9)):  # fresh: far off in both
        for doc in docs.values():
            ce = doc["histories"]["ce"]
            ce["metrics"]["ssim_lecture"] = [level] * 4
            doc["histories"]["nll_raw"] = {**ce, "train_loss": [level * 1e6] * 4}
    ref = distribution.reference(ref_seeds)
    assert "summaries" not in ref["curves"]["ce/ssim_lecture"] and ref["curves"]["ce/ssim_lecture"]["sd"]
    assert not any(key.startswith("nll_raw/") for key in (s.curve for s in distribution.shifts(fresh, ref)))
    assert distribution.significant(distribution.shifts(fresh, ref)) == []
