"""Measure the noise the baseline tolerances must absorb, and the signal they must not.

    python tests/baseline_noise.py seeds ~/.cache/lecture22/measure/smoke    # seed-to-seed sd
    python tests/baseline_noise.py threads smoke 0 1 2                       # 1 vs 2 CPU threads
    python tests/baseline_noise.py power lecture mnist 100-112 [--fresh 3] [--reference 3]
    python tests/baseline_noise.py paired [D]                    # the paired tier's power, d sds
    python tests/baseline_noise.py mistakes lecture [NAME ...]   # each tier on test_tiers' mistakes

``seeds`` reads saved runs (RunResult JSON, one per family and seed) and prints, per measure,
the spread over seeds of every (family, loss, epoch) value: the smallest and the median sd,
absolute and relative to the mean. A tolerance well below the smallest sd still fails a change
of one seed's worth.

``threads`` trains the baseline families at a scale twice per seed, under
``torch.set_num_threads(1)`` (each xdist worker on a 2-core machine) and ``(2)`` (a plain run),
plus once more under 2 threads to confirm a rerun is bit-identical, and prints per measure the
worst absolute and relative difference. The tolerances must absorb these. Not a test: it trains.

``power`` measures the distribution tier's false alarms and power by resampling seeds: it trains
(or takes from the run cache) the seeds at one thread, as the tests do, and judges every
``--fresh``-seed subset (3: what the tests train) against a reference of the other seeds, per
baseline family, for each candidate statistic. A false alarm is a subset with any significant
summary. Power: the same subsets with one curve moved by d reference sds, in its final value or
in every epoch, caught where the family fails.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import torch

from reproduce.judging import distribution, paired
from reproduce.judging.compare import seeds_doc
from reproduce.training import data, experiments
from reproduce.training.config import SCALES
from reproduce.training.datasets import DATASETS
from reproduce.training.results import RunCache, RunResult, default_cache_dir
from reproduce.training.study import family_of, study_configs, train_study

BASELINE_FAMILIES = ("regression", "classification", "shared_init")


def values(result: RunResult):
    """(family, loss, measure, epoch) -> value; epoch 0 is the untrained net."""
    family = family_of(result.config)
    for loss, history in result.histories.items():
        for measure, value in history.untrained.items():
            yield (family, loss, measure, 0), value
        for epoch, value in enumerate(history.train_loss, 1):
            yield (family, loss, "train_loss", epoch), value
        for measure, curve in history.metrics.items():
            for epoch, value in enumerate(curve, 1):
                yield (family, loss, measure, epoch), value


def seed_spread(folder: Path) -> None:
    by_key = defaultdict(list)
    for path in sorted(folder.glob("*.json")):
        for key, value in values(RunResult.load(path)):
            by_key[key].append(value)
    by_measure = defaultdict(list)
    for (_, loss, measure, _), seeds in by_key.items():
        if loss != "nll_raw" and len(seeds) > 1:  # the diverging negative control: no signal
            sd = statistics.stdev(seeds)
            by_measure[measure].append((sd, sd / abs(statistics.fmean(seeds))))
    n = max(len(s) for s in by_key.values())
    print(f"seed-to-seed sd over {n} seeds, {folder}")
    for measure, sds in sorted(by_measure.items()):
        absolute, relative = zip(*sds, strict=True)
        print(
            f"  {measure:13s} sd min {min(absolute):.3g} median {statistics.median(absolute):.3g}"
            f" | sd/mean min {min(relative):.3g} median {statistics.median(relative):.3g}"
        )


def run_with_threads(config, threads: int) -> RunResult:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return experiments.run(config, data.resolve_data_dir(None))
    finally:
        torch.set_num_threads(previous)


def thread_difference(scale: str, seeds: list[int]) -> None:
    worst = defaultdict(lambda: [0.0, 0.0])  # measure -> [max abs diff, max rel diff]
    rerun_identical = True
    for config in study_configs(seeds, scale=scale, families=BASELINE_FAMILIES):
        two = dict(values(run_with_threads(config, 2)))
        one = dict(values(run_with_threads(config, 1)))
        if config.seed == seeds[0]:
            rerun_identical &= dict(values(run_with_threads(config, 2))) == two
        for key, value in two.items():
            diff = abs(one[key] - value)
            measure = f"{key[2]}{' (nll_raw)' if key[1] == 'nll_raw' else ''}"
            worst[measure][0] = max(worst[measure][0], diff)
            worst[measure][1] = max(worst[measure][1], diff / abs(value) if value else 0.0)
    print(f"1 vs 2 threads, {scale} scale, seeds {seeds}; rerun bit-identical: {rerun_identical}")
    for measure, (absolute, relative) in sorted(worst.items()):
        print(f"  {measure:24s} max |diff| {absolute:.3g}  max |diff|/|value| {relative:.3g}")


def every_epoch(curve: list[float]) -> dict[str, float]:
    """The alternative the tier used before: every epoch's value tested on its own."""
    return {"value": curve[0]} if len(curve) == 1 else {f"epoch {e}": v for e, v in enumerate(curve, 1)}


def final_only(curve: list[float]) -> dict[str, float]:
    """The other alternative: only each curve's final value."""
    return {"value": curve[0]} if len(curve) == 1 else {"final": curve[-1]}


STATISTICS = {
    "final + mean (chosen)": distribution.summaries,
    "every epoch": every_epoch,
    "final only": final_only,
}
SHIFTS_IN_SDS = (1, 2, 3, 5)
MAX_SUBSETS = 2000  # judged for false alarms; more fresh seeds than 3 have more subsets than this


def shifted(docs: dict, key: str, sds: list[float], d: float, whole_curve: bool) -> dict:
    """Copies of the seeds' documents with curve ``key`` moved by ``d`` reference sds: its final
    epoch, or every epoch (each by its own epoch's sd); an untrained net's value by its sd."""
    loss, name = key.split("/", 1)
    out = {}
    for seed, doc in docs.items():
        history = copy.deepcopy(doc["histories"][loss])
        if name.startswith("untrained/"):
            history["untrained"][name.split("/", 1)[1]] += d * sds[0]
        else:
            curve = history["train_loss"] if name == "train_loss" else history["metrics"][name]
            for e in range(len(curve)) if whole_curve else (len(curve) - 1,):
                curve[e] += d * sds[e]
        out[seed] = {"histories": doc["histories"] | {loss: history}}
    return out


TWINS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "twins"


def paired_power(dataset: str, scale: str, d: float = 1.0) -> dict[tuple[str, str, str], dict[str, float]]:
    """Power on real other bits: each twin of the baseline's seeds (benchmarks/paired_noise.py),
    every curve moved by ``d`` reference sds in all three seeds, in its final value or in every
    epoch, judged by the paired tier against the baseline's same seeds and by the distribution
    tier against the reference. ``{(twin, family, shape): {"paired": caught, "distribution": ...}}``,
    as fractions of the family's curves (every curve for the paired tier, the tested ones for the
    distribution tier). Under another torch release an untrained value is the draws' witness, not
    a summary the paired tier judges (moved, it says the draws differ and steps aside), so there
    the paired tier's fraction is of the trained curves."""
    baseline = paired.shipped(dataset, scale)
    out = {}
    for path in sorted((TWINS / f"{dataset}-{scale}").glob("*.json")):
        twin = json.loads(path.read_text())
        same_torch = paired.torch_release(twin["environment"]) == paired.torch_release(baseline.environment)
        for family, docs in twin["seeds"].items():
            reference = baseline.references[family]
            for whole in (False, True):
                hits = {"paired": [], "distribution": []}
                for key, stats in reference["curves"].items():
                    moved = shifted(docs, key, stats["sd"], d, whole)
                    if same_torch or "/untrained/" not in key:
                        hits["paired"].append(baseline.judge(family, moved, twin["environment"]).failed)
                    if distribution.tested(key):
                        found = distribution.shifts(moved, reference)
                        hits["distribution"].append(bool(distribution.significant(found)))
                shape = "whole curve" if whole else "final value"
                out[twin["label"], family, shape] = {k: sum(v) / len(v) for k, v in hits.items()}
    return out


def print_paired_power(d: float) -> None:
    for dataset in DATASETS:
        for scale in SCALES:
            for (label, family, shape), rate in paired_power(dataset, scale, d).items():
                print(
                    f"{dataset:13s} {scale:7s} {label:22s} {family:14s} {shape:11s} d={d:g}: paired "
                    f"{rate['paired']:4.0%}, distribution {rate['distribution']:4.0%}"
                )


def power(scale: str, dataset: str, seeds: list[int], fresh: int, subsets: int, size: int | None) -> None:
    """False alarms and power of each statistic, every ``fresh``-seed subset against the others
    (or against the first ``size`` of them: the lecture's reference had 3 seeds before issue 18).

    False alarms: a subset of unshifted seeds with any significant summary (Holm, ALPHA, per
    family). Power: in ``subsets`` of those subsets (every one where there are fewer), every
    curve of several epochs shifted by d reference sds, in its final value or in every epoch,
    and counted as caught where the family fails.
    """
    torch.set_num_threads(1)
    study = train_study(
        seeds,
        data_dir=data.resolve_data_dir(None),
        cache=RunCache(default_cache_dir()),
        scale=scale,
        dataset=dataset,
        families=BASELINE_FAMILIES,
    )
    every = list(itertools.combinations(sorted(str(s) for s in seeds), fresh))
    every = random.Random(0).sample(every, min(MAX_SUBSETS, len(every)))  # all of C(20, 3) = 1140
    sample = random.Random(0).sample(every, min(subsets, len(every)))
    print(
        f"{dataset} {scale}: {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}); {len(every)} {fresh}-seed subsets "
        f"judged against {size or len(seeds) - fresh} of the other seeds; power over {len(sample)} "
        f"of them x every curve; alpha {distribution.ALPHA} per family"
    )
    header = " ".join(f"{d:>4}" for d in SHIFTS_IN_SDS)
    print(
        f"  {'family':15s} {'statistic':22s} {'tests':>5s} {'false alarms':>18s} "
        f"| final, d = {header} | curve, d = {header}"
    )
    for family in BASELINE_FAMILIES:
        docs = seeds_doc(study, family)
        for name, statistic in STATISTICS.items():
            alarms, smallest_p, caught = 0, 1.0, {}
            for subset in every:
                others = [s for s in sorted(docs, key=int) if s not in subset][:size]
                reference = distribution.reference({s: docs[s] for s in others}, statistic)
                found = distribution.shifts({s: docs[s] for s in subset}, reference, statistic=statistic)
                smallest_p = min(smallest_p, min(f.p for f in found))
                alarms += bool(distribution.significant(found))
                if subset not in sample:
                    continue
                for key, stats in reference["curves"].items():
                    if len(stats["sd"]) < 2 or not distribution.tested(key):
                        continue
                    for d, whole in itertools.product(SHIFTS_IN_SDS, (False, True)):
                        moved = shifted({s: docs[s] for s in subset}, key, stats["sd"], d, whole)
                        hit = bool(
                            distribution.significant(
                                distribution.shifts(moved, reference, statistic=statistic)
                            )
                        )
                        caught.setdefault((d, whole), []).append(hit)
            rates = {k: sum(v) / len(v) for k, v in caught.items()}
            final = " ".join(f"{rates[d, False]:4.0%}" for d in SHIFTS_IN_SDS)
            curve = " ".join(f"{rates[d, True]:4.0%}" for d in SHIFTS_IN_SDS)
            print(
                f"  {family:15s} {name:22s} {len(found):5d} {alarms:5d}/{len(every):<5d} p>={smallest_p:.0e}"
                f" |            {final} |            {curve}",
                flush=True,
            )


def mistakes(scale: str, names: list[str]) -> None:
    """tests/test_tiers.py's one-line mistakes, trained on the baseline's seeds (the regression
    runs only at lecture scale) and judged by each tier alone: what each says, largest first."""
    import tempfile

    import test_tiers

    families = test_tiers.FAMILIES if scale == "smoke" else ("regression",)
    data_dir = data.resolve_data_dir(None)
    for name in names or sorted(test_tiers.MISTAKES):
        with tempfile.TemporaryDirectory() as folder:
            package = test_tiers.mistaken_copy(name, Path(folder))
            trained = test_tiers.study(package, (0, 1, 2), data_dir, Path(folder), scale, families)
        said = test_tiers.paired_failures(trained, scale)
        shifted = [f for f in test_tiers.failures(trained, scale) if f.split(":")[0] in families]
        print(f"{name} ({scale}): paired: {said[0] if said else 'nothing'}")
        print(f"{name} ({scale}): distribution: {shifted[0] if shifted else 'nothing'}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["seeds"]:
        seed_spread(Path(sys.argv[2]).expanduser())
    elif sys.argv[1:2] == ["threads"]:
        thread_difference(sys.argv[2], [int(s) for s in sys.argv[3:]])
    elif sys.argv[1:2] == ["mistakes"]:
        mistakes(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:2] == ["paired"]:
        print_paired_power(float(sys.argv[2]) if sys.argv[2:] else 1.0)
    elif sys.argv[1:2] == ["power"]:
        first, last = (int(x) for x in sys.argv[4].split("-"))
        options = dict(zip(sys.argv[5::2], sys.argv[6::2]))
        fresh, subsets = int(options.get("--fresh", 3)), int(options.get("--subsets", 60))
        size = int(options["--reference"]) if "--reference" in options else None
        power(sys.argv[2], sys.argv[3], list(range(first, last + 1)), fresh, subsets, size)
    else:
        sys.exit(__doc__)
