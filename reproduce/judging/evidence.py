"""Small statistics over seeds, and the Evidence record every claim check returns.

A NaN never becomes a finite statistic here: a mean, sd, min, max or rank correlation over
values that hold a NaN is NaN, so a check comparing it with a bound can never say "holds"
by accident (Python's ``min`` and ``sorted`` silently skip or misplace a NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

REPRODUCED, REFUTED, NOT_JUDGED = "reproduced", "refuted", "not judged"
NAN = float("nan")


class CannotJudge(Exception):
    """The evidence a claim needs cannot be formed from these results; the message says why."""


@dataclass
class Evidence:
    """What a check measured (named numbers), whether the claim held, and one line saying so.

    ``holds`` is None where the claim could not be judged; ``summary`` then says why.
    """

    holds: bool | None
    summary: str
    numbers: dict[str, object] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.holds is None:
            return NOT_JUDGED
        return REPRODUCED if self.holds else REFUTED


def first_float(value: object, where: Callable[[float], bool], path: tuple = ()) -> tuple | None:
    """(location, number) of the first float inside nested dicts and lists for which ``where``
    holds, the location as keys and indices; None if there is none."""
    if isinstance(value, float):
        return (path, value) if where(value) else None
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, (list, tuple))
        else ()
    )
    return next(
        (found for key, child in children if (found := first_float(child, where, (*path, key)))), None
    )


def has_nan(value: object) -> bool:
    """Whether a number, or any number inside nested dicts and lists, is NaN."""
    return first_float(value, math.isnan) is not None


def over_seeds(values: Sequence[float]) -> dict[str, float]:
    """n, mean, sample sd, min and max of one number measured once per seed (all NaN if one is)."""
    values = [float(v) for v in values]
    n = len(values)
    if any(math.isnan(v) for v in values):
        return {"n": n, "mean": NAN, "sd": NAN, "min": NAN, "max": NAN}
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "sd": sd, "min": min(values), "max": max(values)}


def lowest(values: Sequence[float]) -> float:
    """``min``, but NaN where any value is NaN."""
    values = list(values)
    return NAN if any(math.isnan(v) for v in values) else min(values)


def highest(values: Sequence[float]) -> float:
    """``max``, but NaN where any value is NaN."""
    values = list(values)
    return NAN if any(math.isnan(v) for v in values) else max(values)


def rank_correlation(values: Sequence[float]) -> float:
    """Spearman's rho between epoch number and value: +1 rises every epoch, -1 falls every epoch.

    NaN where a value is NaN: a curve with a hole has no trend.

    >>> rank_correlation([0.1, 0.3, 0.2, 0.4])
    0.8
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"expected a curve of at least 2 epochs, got {n}")
    if any(math.isnan(v) for v in values):
        return NAN
    order = sorted(range(n), key=lambda i: values[i])
    ranks = [0.0] * n
    i = 0
    while i < n:  # average ranks over ties
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    mean = (n - 1) / 2
    cov = sum((r - mean) * (e - mean) for e, r in enumerate(ranks))
    var_r = sum((r - mean) ** 2 for r in ranks)
    var_e = sum((e - mean) ** 2 for e in range(n))
    return cov / math.sqrt(var_r * var_e) if var_r > 0 else 0.0


def fmt(stats: dict[str, float], digits: int = 3) -> str:
    """``0.412 ± 0.018 (n=3, 0.39..0.43)``: mean ± sd over seeds, then the range."""
    d = digits
    return (
        f"{stats['mean']:.{d}f} ± {stats['sd']:.{d}f} "
        f"(n={stats['n']}, {stats['min']:.{d}f}..{stats['max']:.{d}f})"
    )
