"""The distribution tier: is a fresh run's training statistically the same as the reference's?

Exact baselines say "these bits again"; they cannot survive a deliberate change of numerics (a
fused optimiser, another CPU's kernels, another GPU). This tier asks the question that can: do
the fresh seeds' per-epoch means lie inside the reference distribution (mean, sd and n over the
reference seeds), curve by curve and epoch by epoch?

The test, per value: a two-sample t statistic that takes its spread from the reference,
``t = (mean_fresh - mean_ref) / (sd_ref * sqrt(1/n_fresh + 1/n_ref))`` with ``n_ref - 1``
degrees of freedom. The reference sd comes from more seeds than the fresh one (10 against 3 at
smoke scale), and a fresh sd from 3 seeds is too noisy to divide by. Across every curve and
epoch of one baseline the p-values are held to a family-wise error rate ``alpha`` by Holm's
step-down procedure, which needs no independence between the curves (they are far from
independent: one seed's curves move together). A value whose reference sd is 0 (to float noise,
NO_SPREAD) must match its reference mean to that noise.

Documents are the baselines' own layout: ``{"<seed>": {"histories": {loss: history}}}``, where a
history is ``{"untrained": {measure: x}, "train_loss": [...], "metrics": {measure: [...]}}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A reference sd below this (relative to the mean, or absolute under 1) is float noise around a
# value every seed shares: such a value must match to that noise instead of dividing by it.
NO_SPREAD = 1e-9
ALPHA = 0.001  # family-wise, per baseline file; see README "Baselines" for the measured false alarms


def values_of(history: Mapping) -> dict[str, list[float]]:
    """One history as named curves: ``train_loss``, each metric, and ``untrained/<metric>``."""
    curves = {"train_loss": list(history["train_loss"])}
    curves |= {name: list(values) for name, values in history["metrics"].items()}
    curves |= {f"untrained/{name}": [value] for name, value in history["untrained"].items()}
    return curves


def curves_by_seed(seeds: Mapping[str, Mapping]) -> dict[str, list[list[float]]]:
    """``{"<loss>/<curve>": [one curve per seed]}`` from a baseline's ``seeds`` document."""
    out: dict[str, list[list[float]]] = {}
    for run in seeds.values():
        for loss, history in run["histories"].items():
            for name, curve in values_of(history).items():
                out.setdefault(f"{loss}/{name}", []).append(curve)
    return out


def _mean_sd(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, sd


def reference(seeds: Mapping[str, Mapping]) -> dict:
    """Mean, sd and n over seeds for every curve and epoch: what a fresh run is judged against."""
    curves = {}
    for key, per_seed in curves_by_seed(seeds).items():
        stats = [_mean_sd(list(epoch)) for epoch in zip(*per_seed)]
        curves[key] = {"mean": [m for m, _ in stats], "sd": [s for _, s in stats]}
    return {"n": len(seeds), "seeds": sorted(int(s) for s in seeds), "curves": curves}


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom (incomplete beta).

    >>> round(t_two_sided_p(2.262, 9), 4)
    0.05
    """
    if not math.isfinite(t):
        return 0.0  # an infinite shift, or a NaN (a curve that diverged): never "the same"
    x = df / (df + t * t)
    if x == 0.0:
        return 0.0  # t * t overflowed: far beyond any alpha
    if x == 1.0:
        return 1.0  # no shift, or one too small to move df + t * t
    a, b = df / 2, 0.5
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1) / (a + b + 2):
        return min(1.0, front * _betacf(a, b, x) / a)
    return min(1.0, 1.0 - front * _betacf(b, a, 1.0 - x) / b)


@dataclass(frozen=True)
class Shift:
    """One curve's value at one epoch, fresh against reference."""

    curve: str  # "<loss>/<curve>"
    epoch: int  # 1-based; 0 for an untrained value
    fresh_mean: float
    reference_mean: float
    reference_sd: float
    p: float

    @property
    def in_sds(self) -> float:
        """The shift of the fresh mean in reference sds (inf where the reference sd is 0)."""
        gap = self.fresh_mean - self.reference_mean
        return gap / self.reference_sd if self.reference_sd else (0.0 if gap == 0 else math.inf)

    def describe(self) -> str:
        where = "untrained" if self.epoch == 0 else f"epoch {self.epoch}"
        return (
            f"{self.curve} {where}: mean {self.fresh_mean:.6g} against {self.reference_mean:.6g} "
            f"± {self.reference_sd:.3g}, {self.in_sds:+.1f} sds (p = {self.p:.2g})"
        )


def shifts(
    fresh_seeds: Mapping[str, Mapping], ref: Mapping, only: Iterable[str] | None = None
) -> list[Shift]:
    """Every (curve, epoch) of the fresh seeds against the reference, with its p-value.

    ``only``: the curves to judge (both sides must have them); by default every curve, and the
    two sides must have the same ones.
    """
    fresh = curves_by_seed(fresh_seeds)
    judged = set(ref["curves"]) if only is None else set(only)
    missing = sorted(
        (set(ref["curves"]) ^ set(fresh)) if only is None else judged - (set(ref["curves"]) & set(fresh))
    )
    if missing:
        raise ValueError(f"fresh curves and reference differ in {missing[:5]}; regenerate the reference")
    n_ref, out = ref["n"], []
    for key, stats in ref["curves"].items():
        if key not in judged:
            continue
        untrained = "/untrained/" in key
        for e, (mean, sd) in enumerate(zip(stats["mean"], stats["sd"])):
            values = [curve[e] for curve in fresh[key]]
            m, n = sum(values) / len(values), len(values)
            scale = NO_SPREAD * max(1.0, abs(mean))
            if sd > scale:
                p = t_two_sided_p((m - mean) / (sd * math.sqrt(1 / n + 1 / n_ref)), n_ref - 1)
            else:  # the same in every reference seed: must match, to float noise
                p = 1.0 if all(abs(v - mean) <= scale for v in values) else 0.0
            out.append(Shift(key, 0 if untrained else e + 1, m, mean, sd, p))
    return out


def significant(found: Iterable[Shift], alpha: float = ALPHA) -> list[Shift]:
    """Holm's step-down: the shifts rejected at family-wise error rate ``alpha``, largest first."""
    ordered = sorted(found, key=lambda s: s.p)
    rejected = []
    for rank, shift in enumerate(ordered):
        if shift.p > alpha / (len(ordered) - rank):
            break
        rejected.append(shift)
    return sorted(rejected, key=lambda s: -abs(s.in_sds))


def check_reference(ref: object, *, min_seeds: int) -> None:
    """Raise ValueError, saying how to fix it, for a damaged or too-small reference."""
    fix = "regenerate it with --snapshot-update"
    if not isinstance(ref, Mapping) or not {"n", "seeds", "curves"} <= set(ref):
        raise ValueError(f"the baseline has no reference distribution (n, seeds, curves); {fix}")
    if ref["n"] < min_seeds or len(ref["seeds"]) != ref["n"]:
        raise ValueError(f"the reference has {ref['n']} seeds, fewer than the {min_seeds} needed; {fix}")
    for key, stats in ref["curves"].items():
        if not isinstance(stats, Mapping) or len(stats.get("mean", ())) != len(stats.get("sd", (None,))):
            raise ValueError(f"the reference's curve {key!r} is damaged (mean and sd lengths differ); {fix}")


def drift(fresh_seeds: Mapping[str, Mapping], stored_seeds: Mapping[str, Mapping], ref: Mapping) -> dict:
    """How far a fresh run's exact numbers moved from a baseline's, in reference sds.

    For the exact tier in another environment: every value of every common seed, curve and
    epoch that is not bit-equal counts as moved; the largest move is named.
    """
    moved, total, largest = 0, 0, (0.0, "")
    for seed in sorted(set(fresh_seeds) & set(stored_seeds)):
        now, then = curves_by_seed({seed: fresh_seeds[seed]}), curves_by_seed({seed: stored_seeds[seed]})
        for key in sorted(set(now) & set(then)):
            sds = ref["curves"].get(key, {}).get("sd", [])
            for e, (a, b) in enumerate(zip(now[key][0], then[key][0])):
                total += 1
                if a == b:
                    continue
                moved += 1
                sd = sds[e] if e < len(sds) else 0.0
                size = abs(a - b) / sd if sd else math.inf
                if size > largest[0] or not largest[1]:
                    largest = (size, f"seed {seed} {key} [{e}]: {b:.6g} -> {a:.6g}")
    return {"moved": moved, "of": total, "largest_in_sds": largest[0], "where": largest[1]}
