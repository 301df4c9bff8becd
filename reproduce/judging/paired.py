"""The paired tier: the baseline's own seeds trained again on other bits, judged against
floating-point noise instead of seed noise.

A fresh run of seed s draws the baseline's init and batch order again (the init from s, the
order from s + 1000), so its difference from the baseline's seed s holds no seed noise: only the
floating-point noise of other bits (another CPU's kernels, a card, the next torch, the stacked
schedule), amplified by training. That noise was measured (``benchmarks/paired_noise.py``, the
numbers in ``reproduce/judging/references/<dataset>-<scale>-noise.json`` and docs in docs/tiers.md, "Paired
tier"): between the AVX2 and AVX-512 lecture baselines the final values moved by at most 0.16
seed sds, where the distribution tier, fresh seeds against other seeds, misses a shift of 3.

**What is judged.** Every curve (the two the distribution tier leaves out too: ``ssim_lecture``
and the diverging ``nll_raw``), read as the distribution tier reads it (final value and mean
over epochs; an untrained net's measure as its one value). Per summary, the mean over the common
seeds of fresh minus baseline, against an allowance of ``factor`` times the measured noise of
that kind of summary. The noise is in seed sds, pooled over the losses of a family that share a
measure (``group``): the largest difference any twin pair of other bits showed. ``factor`` is
derived from those pairs, each left out in turn (the noise file says how).

**Same draws, decided from the data.** An untrained net's measures depend on its init draws and
the test set only. Where one seed's differs beyond its allowance, the draws (or what the
untrained measure reads) differ: under the baseline's torch that fails; under another torch (one
that may draw differently) the tier says so in one line and steps aside, and the distribution
tier judges alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reproduce.judging import distribution

FORMAT = "lecture22-paired-noise"
FOLDER = Path(__file__).parent / "references"


def noise_path(dataset: str, scale: str) -> Path:
    return FOLDER / f"{dataset}-{scale}-noise.json"


def load_noise(dataset: str, scale: str) -> dict | None:
    """The measured floating-point noise of a setting, or None where none was measured."""
    file = noise_path(dataset, scale)
    return json.loads(file.read_text()) if file.is_file() else None


def group(key: str) -> str:
    """The kind of curve a noise level is shared by: ``*/<measure>`` over a family's losses, the
    diverging control kept apart (its noise is its own)."""
    loss, measure = key.split("/", 1)
    return key if loss in distribution.DIVERGING_CONTROLS else f"*/{measure}"


def summarised(seeds: Mapping[str, Mapping]) -> dict[str, dict[tuple[str, str], float]]:
    """``{seed: {(curve, summary): value}}`` for every curve of a baselines-layout document."""
    return {
        seed: {
            (key, name): value
            for key, curves in distribution.curves_by_seed({seed: run}).items()
            for name, value in distribution.summaries(curves[0]).items()
        }
        for seed, run in seeds.items()
    }


def seed_sd(reference: Mapping, key: str, summary: str) -> float:
    """A summary's spread over the reference seeds. The tested curves store it; for the two the
    distribution tier leaves out, a final or one value's sd is its epoch's, and a mean over
    epochs takes the mean of the epochs' sds (an upper bound of the mean's own sd)."""
    curve = reference["curves"][key]
    stored = curve.get("summaries", {}).get(summary)
    if stored is not None:
        return stored["sd"]
    sds = curve["sd"]
    return sum(sds) / len(sds) if summary == "mean" else sds[-1]


def torch_release(environment: Mapping) -> str:
    """``2.14.1`` of ``2.14.1+cu130``: a build of the same release draws the same numbers."""
    return str(environment.get("torch", "")).split("+")[0]


@dataclass(frozen=True)
class Difference:
    """One summary of one curve: the fresh seeds' mean difference from the baseline's seeds."""

    curve: str
    summary: str
    difference: float  # mean over the common seeds of fresh minus baseline
    noise: float  # the measured floating-point noise of this summary, in its own units
    factor: float  # the allowance is factor x noise
    sd: float  # the reference's seed sd of this summary

    @property
    def in_noise(self) -> float:
        return self.difference / self.noise if self.noise else (0.0 if self.difference == 0 else math.inf)

    @property
    def in_sds(self) -> float:
        return self.difference / self.sd if self.sd else (0.0 if self.difference == 0 else math.inf)

    @property
    def beyond(self) -> bool:
        """Outside the allowance (a NaN, from a diverged run, is never inside)."""
        return not abs(self.difference) <= self.factor * self.noise

    def describe(self) -> str:
        name = self.curve if self.summary == "value" else f"{self.curve} {self.summary}"
        return (
            f"{name}: {self.difference:+.3g} from the baseline's seeds, {self.in_noise:+.1f} x its "
            f"floating-point noise (allowed {self.factor:g}), {self.in_sds:+.2f} seed sds"
        )


@dataclass
class Paired:
    """The paired verdict for one family."""

    seeds: list[int]
    draws_match: bool
    differences: list[Difference] = field(default_factory=list)
    note: str = ""  # one line: why the draws differ, or why nothing was paired
    draws_fail: bool = False  # draws that differ under the baseline's own torch

    @property
    def judged(self) -> bool:
        return bool(self.differences)

    @property
    def beyond(self) -> list[Difference]:
        return sorted((d for d in self.differences if d.beyond), key=lambda d: -abs(d.in_noise))

    @property
    def failed(self) -> bool:
        """Outside the allowance, or draws that differ where they must not (``note`` says why)."""
        return bool(self.beyond) or self.draws_fail

    def largest(self) -> Difference | None:
        finite = [d for d in self.differences if math.isfinite(d.in_noise)]
        return max(finite or self.differences, key=lambda d: abs(d.in_noise), default=None)

    def as_dict(self) -> dict:
        top = self.largest()
        return {
            "seeds": self.seeds,
            "draws_match": self.draws_match,
            "failed": self.failed,
            "note": self.note,
            "summaries_judged": len(self.differences),
            "largest_in_noise": top and top.in_noise,
            "largest_in_sds": top and top.in_sds,
            "largest": top and top.describe(),
            "beyond": [d.describe() for d in self.beyond],
        }


def noise_scale(noise: Mapping, level: float, key: str, sd: float, value: float) -> float:
    """One summary's floating-point noise in its own units: ``level`` (its group's, in seed sds;
    at least the file's floor) times its seed sd, and never under the measure's resolution (one
    test image, for accuracy: a flip any bits can make). Float noise where the seeds agree."""
    resolution = noise["resolution"].get(key.rsplit("/", 1)[-1], 0.0)
    if sd > distribution.NO_SPREAD * max(1.0, abs(value)):
        return max(max(level, noise["floor_in_sds"]) * sd, resolution)
    return max(distribution.NO_SPREAD * max(1.0, abs(value)), resolution)


def judge(
    fresh: Mapping[str, Mapping],
    baseline: Mapping[str, Mapping],
    reference: Mapping,
    noise: Mapping,
    family: str,
    *,
    same_torch: bool,
) -> Paired:
    """The fresh seeds that the baseline also trained, each against the baseline's same seed."""
    common = sorted(set(fresh) & set(baseline), key=int)
    if not common:
        return Paired([], False, note=f"no seed in common with the baseline's ({' '.join(sorted(baseline))})")
    now, then = summarised({s: fresh[s] for s in common}), summarised({s: baseline[s] for s in common})
    keys = sorted(set.intersection(*(set(now[s]) & set(then[s]) for s in common)))
    factor, levels = noise["factor"][family], noise["families"].get(family, {})

    def noise_of(key, summary):
        sd = seed_sd(reference, key, summary)
        level = levels.get(f"{group(key)}/{summary}", 0.0)
        return sd, noise_scale(noise, level, key, sd, then[common[0]][key, summary])

    for seed in common:  # the draws: every untrained measure, seed by seed
        for key, summary in keys:
            if summary != "value":
                continue
            sd, scale = noise_of(key, summary)
            gap = now[seed][key, summary] - then[seed][key, summary]
            if not abs(gap) <= factor * scale:
                where = (
                    f"seed {seed} {key}: {now[seed][key, summary]:.6g} against the baseline's "
                    f"{then[seed][key, summary]:.6g}, {gap / scale:+.3g} x its floating-point noise"
                )
                if same_torch:
                    note = (
                        f"draws differ under the baseline's torch: {where}. The init draws or what the "
                        "untrained measure reads changed"
                    )
                else:
                    note = (
                        f"draws differ ({where}): another torch may draw other inits; not paired, the "
                        "distribution tier judges alone"
                    )
                return Paired([int(s) for s in common], False, note=note, draws_fail=same_torch)
    differences = []
    for key, summary in keys:
        sd, scale = noise_of(key, summary)
        gap = sum(now[s][key, summary] - then[s][key, summary] for s in common) / len(common)
        differences.append(Difference(key, summary, gap, scale, factor, sd))
    return Paired([int(s) for s in common], True, differences)


@dataclass(frozen=True)
class Baseline:
    """What fresh runs are paired with: the tested seeds' histories per family, where they were
    trained, the reference whose seed sds the noise is in, and the measured noise."""

    seeds: Mapping[str, Mapping]  # {family: {seed: {"histories": ...}}}
    environment: Mapping
    references: Mapping[str, Mapping]  # {family: reference}
    noise: Mapping | None

    def judge(self, family: str, fresh: Mapping[str, Mapping], environment: Mapping) -> Paired:
        """``fresh`` (trained in ``environment``) against this baseline's same seeds."""
        if self.noise is None:
            return Paired([], False, note="no floating-point noise measured for this setting: not paired")
        if family not in self.seeds or family not in self.references:
            return Paired([], False, note=f"the baseline has no {family} runs: not paired")
        same_torch = torch_release(environment) == torch_release(self.environment)
        return judge(
            fresh, self.seeds[family], self.references[family], self.noise, family, same_torch=same_torch
        )


def shipped(dataset: str, scale: str) -> Baseline:
    """The package's own baseline of a setting: the CPU baselines' tested seeds and reference."""
    from reproduce.judging import references

    seeds, environment = references.baseline_seeds(dataset, scale)
    return Baseline(seeds, environment, references.load(dataset, scale), load_noise(dataset, scale))
