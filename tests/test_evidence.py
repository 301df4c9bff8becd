import math

import pytest
import scipy.stats

from reproduce.judging.evidence import (
    NOT_JUDGED,
    Evidence,
    fmt,
    has_nan,
    highest,
    lowest,
    over_seeds,
    rank_correlation,
)


def test_over_seeds_uses_the_sample_sd():
    stats = over_seeds([1.0, 2.0, 3.0])
    assert stats == {"n": 3, "mean": 2.0, "sd": 1.0, "min": 1.0, "max": 3.0}
    assert over_seeds([4.0])["sd"] == 0.0


@pytest.mark.parametrize(
    ("curve", "rho"),
    [([1, 2, 3, 4], 1.0), ([4, 3, 2, 1], -1.0), ([0.1, 0.3, 0.2, 0.4], 0.8), ([1, 1, 1], 0.0)],
)
def test_rank_correlation(curve, rho):
    assert rank_correlation(curve) == pytest.approx(rho)


@pytest.mark.parametrize("curve", [[1, 2, 2, 3], [0.3, 0.1, 0.1, 0.5, 0.2], [2, 2, 1, 1]])
def test_rank_correlation_equals_scipys_spearman_with_ties(curve):
    expected = scipy.stats.spearmanr(range(len(curve)), curve).statistic
    assert rank_correlation(curve) == pytest.approx(expected, abs=1e-12)


def test_rank_correlation_needs_two_epochs():
    with pytest.raises(ValueError, match="expected a curve of at least 2 epochs, got 1"):
        rank_correlation([0.5])


def test_fmt_shows_mean_sd_n_and_range():
    assert fmt(over_seeds([1.0, 3.0]), 1) == "2.0 ± 1.4 (n=2, 1.0..3.0)"


NAN = float("nan")


@pytest.mark.parametrize("values", [[NAN, NAN, NAN], [1.0, NAN, 3.0], [1.0, 2.0, NAN], [NAN, 1.0]])
def test_no_statistic_is_finite_from_a_nan(values):
    """Python's min, max and sorted skip or misplace a NaN; these must not."""
    assert all(math.isnan(v) for k, v in over_seeds(values).items() if k != "n")
    assert math.isnan(rank_correlation(values))
    assert math.isnan(lowest(values)) and math.isnan(highest(values))


def test_evidence_without_a_verdict_is_not_judged():
    assert Evidence(None, "the results hold no replay").verdict == NOT_JUDGED
    assert has_nan({"a": [1.0, {"b": NAN}]}) and not has_nan({"a": [1.0, {"b": math.inf}]})
