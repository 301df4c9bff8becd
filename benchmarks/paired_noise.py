"""Measure the floating-point noise that the paired tier judges against, and derive its allowance.

    python benchmarks/paired_noise.py twin LABEL --scale S --dataset D --data-dir DIR [--schedule stacked]
    python benchmarks/paired_noise.py history LABEL COMMIT      # a baseline of other bits in git history
    python benchmarks/paired_noise.py derive                    # twins -> the *-noise.json files in
                                                                # reproduce/judging/references/

A **twin** is the baselines' tested seeds (config.DEFAULT_SEEDS) trained again with the same
draws, on other arithmetic: another CPU's kernels, another torch, the stacked schedule, another
thread count (``--threads``), torch's default Adam as a course's notebook runs it
(``--unfused-adam``). ``twin`` trains one here (one thread per run unless told; the run cache
serves runs already trained) and writes its histories and environment to
``benchmarks/results/twins/<dataset>-<scale>/<label>.json``; ``history`` writes the same from
the baselines committed at a commit of this repository (e.g. the AVX2 EPYC's, before b76682f),
for every setting whose baselines there hold the tested seeds and were made elsewhere.

``derive`` pairs every twin's seeds with the committed baseline's same seeds, per family, and
measures each summary's difference (final value, mean over epochs, untrained value: what the
paired tier judges) in the reference's seed sds, as the tier judges it: an untrained value seed
by seed, any other summary as the mean over the seeds. A group's noise is the largest such
difference over its losses and twins (``paired.group``). The allowance is ``factor`` x noise,
and the factor is derived, not chosen: each twin is left out in turn and judged against the
noise of the others, exactly as the tier judges (twins with the same bits are left out
together); a family's ``factor`` is 1.5 x the largest such held-out ratio in it (at least 2),
so that every twin seen passes with room for bits not yet seen. Groups that no twin moved take
the floor (``FLOOR_IN_SDS``) instead of a noise of 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reproduce.judging import paired  # noqa: E402
from reproduce.training.config import DEFAULT_SEEDS, SCALES  # noqa: E402
from reproduce.training.datasets import DATASETS  # noqa: E402
from reproduce.training.study import DISTINCT_FAMILIES  # noqa: E402

TWINS = ROOT / "benchmarks" / "results" / "twins"
BASELINES = ROOT / "baselines" / "cpu"
# A group no twin moved at all (untrained measures computed in float64 on every CPU) still gets
# an allowance: a thousandth of a seed sd, 10x the largest regression difference seen at smoke
# scale between two CPUs (AVX2 against AVX-512: 1.2e-5 sds), far below any shift a tier can see.
FLOOR_IN_SDS = 1e-3
HELD_OUT_MARGIN = 1.5


def baseline_file(folder: Path, dataset: str, scale: str, family: str) -> Path:
    return folder / dataset / "test_baselines" / f"test_curves[cpu-{scale}-{dataset}-{family}].json"


def write_twin(label: str, what: str, dataset: str, scale: str, environment: dict, seeds: dict) -> Path:
    out = TWINS / f"{dataset}-{scale}" / f"{label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "label": label,
        "what": what,
        "dataset": dataset,
        "scale": scale,
        "environment": environment,
        "seeds": seeds,
    }
    out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return out


def cmd_twin(args) -> None:
    import torch

    from reproduce.judging.compare import seeds_doc
    from reproduce.training.results import RunCache, default_cache_dir
    from reproduce.training.study import train_study

    torch.set_num_threads(args.threads)
    if args.threads != 1:  # the study trains each run with one thread; a twin may not
        from reproduce.training import pool

        pool.one_thread = contextlib.nullcontext
    study = train_study(
        DEFAULT_SEEDS,
        data_dir=args.data_dir,
        cache=RunCache(args.cache or default_cache_dir()),
        scale=args.scale,
        dataset=args.dataset,
        families=DISTINCT_FAMILIES,
        schedule=args.schedule,
        workers=args.workers,
        recipe={"fused_adam": False} if args.unfused_adam else {},
    )
    environment = study.runs[DISTINCT_FAMILIES[0]][0].environment | {"threads": str(args.threads)}
    seeds = {family: seeds_doc(study, family) for family in DISTINCT_FAMILIES}
    adam = "torch's default (unfused) Adam, as the notebook" if args.unfused_adam else "fused Adam"
    what = f"{args.schedule} schedule, {args.threads} thread(s), {adam}, torch {torch.__version__}"
    write_twin(args.label, args.what or what, args.dataset, args.scale, environment, seeds)


def cmd_history(args) -> None:
    for dataset in DATASETS:
        for scale in SCALES:
            seeds, environment = {}, None
            for family in DISTINCT_FAMILIES:
                name = baseline_file(Path("baselines/cpu"), dataset, scale, family).as_posix()
                shown = subprocess.run(
                    ["git", "show", f"{args.commit}:{name}"], capture_output=True, text=True, cwd=ROOT
                )
                if shown.returncode:
                    break
                stored = json.loads(shown.stdout)
                now = json.loads(baseline_file(BASELINES, dataset, scale, family).read_text())
                if "environment" not in stored or stored["environment"] == now["environment"]:
                    break
                environment = stored["environment"]
                seeds[family] = {s: {"histories": r["histories"]} for s, r in stored["seeds"].items()}
            if len(seeds) == len(DISTINCT_FAMILIES):
                cpu = f"{environment['cpu_model']} {environment['cpu_capability']}"
                what = f"the baselines at {args.commit} ({cpu})"
                write_twin(args.label, what, dataset, scale, environment, seeds)


def differences(twin: dict, baseline: dict, reference: dict) -> list[tuple[str, str, float, float, float]]:
    """``(key, summary, difference, seed sd, baseline value)`` for every summary of every seed of
    one twin's family."""
    now, then = paired.summarised(twin), paired.summarised(baseline)
    return [
        (
            key,
            summary,
            value - then[seed][key, summary],
            paired.seed_sd(reference, key, summary),
            then[seed][key, summary],
        )
        for seed in sorted(set(now) & set(then))
        for (key, summary), value in now[seed].items()
    ]


def judged_gaps(rows):
    """What the tier compares with its allowance: an untrained value seed by seed (the draws),
    any other summary as the mean difference over the seeds."""
    by_summary: dict[tuple[str, str], list] = {}
    for key, summary, gap, sd, value in rows:
        by_summary.setdefault((key, summary), []).append((gap, sd, value))
    for name, found in by_summary.items():
        if name[1] == "value":
            yield from ((name, abs(gap), sd, value) for gap, sd, value in found)
        else:
            yield name, abs(sum(gap for gap, _, _ in found)) / len(found), found[0][1], found[0][2]


def levels(rows) -> dict[str, float]:
    """Per group of summaries, the largest difference the tier would judge, in seed sds."""
    out: dict[str, float] = {}
    for (key, summary), gap, sd, _ in judged_gaps(rows):
        name = f"{paired.group(key)}/{summary}"
        out[name] = max(out.get(name, 0.0), gap / sd if sd else 0.0)
    return out


def derive_setting(dataset: str, scale: str) -> dict | None:
    twins = [json.loads(p.read_text()) for p in sorted((TWINS / f"{dataset}-{scale}").glob("*.json"))]
    if not twins:
        return None
    stored = {
        f: json.loads(baseline_file(BASELINES, dataset, scale, f).read_text()) for f in DISTINCT_FAMILIES
    }
    rows = {
        (t["label"], f): differences(t["seeds"][f], stored[f]["seeds"], stored[f]["reference"])
        for t in twins
        for f in DISTINCT_FAMILIES
    }
    frame = {"floor_in_sds": FLOOR_IN_SDS, "resolution": {"accuracy": 100 / SCALES[scale].test_size}}

    def noise(labels) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for (label, family), found in rows.items():
            if label in labels:
                for name, level in levels(found).items():
                    out.setdefault(family, {})[name] = max(out.get(family, {}).get(name, 0.0), level)
        return out

    # Twins with the same bits (torch 2.15 on this CPU trains what 2.14 does) are one twin here:
    # each is left out with its equals, and judged against the rest.
    bits = {t["label"]: json.dumps(t["seeds"], sort_keys=True) for t in twins}
    held_out = {}  # each twin judged as the tier judges it, against the other twins' noise
    for t in twins:
        others = noise({x["label"] for x in twins if bits[x["label"]] != bits[t["label"]]})
        for family in DISTINCT_FAMILIES:
            worst = (0.0, "")
            for (key, summary), gap, sd, value in judged_gaps(rows[t["label"], family]):
                level = others.get(family, {}).get(f"{paired.group(key)}/{summary}", 0.0)
                ratio = gap / paired.noise_scale(frame, level, key, sd, value)
                if ratio > worst[0]:
                    worst = (ratio, f"{key} {summary}")
            held_out.setdefault(t["label"], {})[family] = {"ratio": worst[0], "where": worst[1]}
    factor = {
        family: round(max(HELD_OUT_MARGIN * max(h[family]["ratio"] for h in held_out.values()), 2.0), 1)
        if len(set(bits.values())) > 1
        else 2.0
        for family in DISTINCT_FAMILIES
    }
    everyone = noise({t["label"] for t in twins})
    return frame | {
        "format": paired.FORMAT,
        "dataset": dataset,
        "scale": scale,
        "seeds": list(DEFAULT_SEEDS),
        "how": (
            "python benchmarks/paired_noise.py derive: per family and group of summaries, the largest "
            "difference in reference seed sds between the baseline's seeds and the same seeds of each twin "
            "(benchmarks/results/twins/); factor: 1.5 x the largest ratio of a twin left out to the others' "
            "noise, per family (at least 2); resolution: one test image of accuracy, in points"
        ),
        "factor": factor,
        "twins": {
            t["label"]: {
                "what": t["what"],
                "environment": t["environment"],
                "largest_in_sds": {f: max(levels(rows[t["label"], f]).values()) for f in DISTINCT_FAMILIES},
                "held_out_ratio": held_out[t["label"]],
                "same_bits_as": sorted(
                    x["label"] for x in twins if x is not t and bits[x["label"]] == bits[t["label"]]
                ),
            }
            for t in twins
        },
        "families": everyone,
    }


def cmd_derive(args) -> None:
    for dataset in DATASETS:
        for scale in SCALES:
            document = derive_setting(dataset, scale)
            if document is None:
                print(f"{dataset} {scale}: no twins, no noise file")
                continue
            out = paired.noise_path(dataset, scale)
            out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
            print(f"{dataset} {scale}: factor {document['factor']}, wrote {out}")
            for label, twin in document["twins"].items():
                print(f"  {label}: {twin['what']}")
                for family, size in twin["largest_in_sds"].items():
                    held = twin["held_out_ratio"][family]
                    print(
                        f"    {family:15s} largest {size:.3g} seed sds; left out: {held['ratio']:.3g} x the "
                        f"others' noise ({held['where']})"
                    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    twin = sub.add_parser("twin")
    twin.add_argument("label")
    twin.add_argument("--scale", choices=SCALES, required=True)
    twin.add_argument("--dataset", choices=list(DATASETS), default="mnist")
    twin.add_argument("--data-dir", type=Path, required=True)
    twin.add_argument("--cache", type=Path)
    twin.add_argument("--schedule", default="per-run")
    twin.add_argument("--threads", type=int, default=1)
    twin.add_argument("--workers", type=int, default=2)
    twin.add_argument(
        "--unfused-adam", action="store_true", help="the notebook's Adam (RunConfig.fused_adam)"
    )
    twin.add_argument("--what", help="what differs, for the noise file (default: schedule, threads, torch)")
    history = sub.add_parser("history")
    history.add_argument("label")
    history.add_argument("commit")
    sub.add_parser("derive")
    args = parser.parse_args(argv)
    {"twin": cmd_twin, "history": cmd_history, "derive": cmd_derive}[args.command](args)


if __name__ == "__main__":
    main()
