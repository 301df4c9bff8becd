"""Measure the noise the baseline tolerances must absorb, and the signal they must not.

    python tests/baseline_noise.py seeds ~/.cache/lecture22/measure/smoke    # seed-to-seed sd
    python tests/baseline_noise.py threads smoke 0 1 2                       # 1 vs 2 CPU threads
    python tests/baseline_noise.py false-alarms smoke mnist 20               # distribution tier

``seeds`` reads saved runs (RunResult JSON, one per family and seed) and prints, per measure,
the spread over seeds of every (family, loss, epoch) value: the smallest and the median sd,
absolute and relative to the mean. A tolerance well below the smallest sd still fails a change
of one seed's worth.

``threads`` trains the baseline families at a scale twice per seed, under
``torch.set_num_threads(1)`` (each xdist worker on a 2-core machine) and ``(2)`` (a plain run),
plus once more under 2 threads to confirm a rerun is bit-identical, and prints per measure the
worst absolute and relative difference. The tolerances must absorb these. Not a test: it trains.

``false-alarms`` measures the distribution tier's false-alarm rate by resampling seeds: it trains
(or takes from the run cache) seeds 0..N-1 at one thread, as the tests do, splits them in two
halves, builds a reference from each half and judges every 3-seed subset of the other half
against it, per baseline family. A false alarm is a subset with any significant value.
"""

from __future__ import annotations

import itertools
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import torch

from reproduce import data, distribution, experiments
from reproduce.compare import seeds_doc
from reproduce.results import RunCache, RunResult, default_cache_dir
from reproduce.study import family_of, study_configs, train_study

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


def false_alarms(scale: str, dataset: str, n_seeds: int) -> None:
    torch.set_num_threads(1)
    study = train_study(
        range(n_seeds),
        data_dir=data.resolve_data_dir(None),
        cache=RunCache(default_cache_dir()),
        scale=scale,
        dataset=dataset,
        families=BASELINE_FAMILIES,
    )
    half = n_seeds // 2
    print(f"{dataset} {scale}: reference from {half} seeds, every 3-seed subset of the other {half} judged")
    for family in BASELINE_FAMILIES:
        docs = seeds_doc(study, family)
        seeds = sorted(docs, key=int)
        alarms, trials, smallest_p = 0, 0, 1.0
        for ref_half, judged_half in ((seeds[:half], seeds[half:]), (seeds[half:], seeds[:half])):
            reference = distribution.reference({s: docs[s] for s in ref_half})
            for subset in itertools.combinations(judged_half, 3):
                found = distribution.shifts({s: docs[s] for s in subset}, reference)
                smallest_p = min(smallest_p, min(f.p for f in found))
                alarms += bool(distribution.significant(found))
                trials += 1
        print(
            f"  {family:15s} false alarms {alarms}/{trials} "
            f"(smallest p {smallest_p:.2g}, alpha {distribution.ALPHA})"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["seeds"]:
        seed_spread(Path(sys.argv[2]).expanduser())
    elif sys.argv[1:2] == ["threads"]:
        thread_difference(sys.argv[2], [int(s) for s in sys.argv[3:]])
    elif sys.argv[1:2] == ["false-alarms"]:
        false_alarms(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
