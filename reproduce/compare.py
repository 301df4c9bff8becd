"""``reproduce compare BASELINE RESULTS``: how far one set of results drifted from another.

For a maintainer at a torch bump, a new GPU or an edited notebook: both sides are folders of
run JSONs as ``reproduce run``/``claims`` write them (``<dir>/runs/*.json``, or the folder
itself). The baseline's seeds make the reference distribution of every curve and epoch; the
results are judged against it as the distribution tier judges a test run
(``reproduce.distribution``). The report names each curve's largest shift in baseline seed sds,
the significant ones, the claims whose verdict changed and the environment diff.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from reproduce import distribution
from reproduce.results import RunResult, write_json_atomic
from reproduce.study import Study


def load_runs(folder: Path) -> Study:
    """Every run JSON under ``folder/runs`` (or ``folder``), as a Study; one line if there are none."""
    runs = folder / "runs" if (folder / "runs").is_dir() else folder
    paths = sorted(runs.rglob("*.json"))
    if not paths:
        raise ValueError(
            f"no run JSON files in {runs}; expected the runs/ folder that `reproduce claims` writes"
        )
    return Study.of([RunResult.load(p) for p in paths])


def seeds_doc(study: Study, family: str) -> dict:
    return {
        str(r.config.seed): {"histories": {k: dataclasses.asdict(h) for k, h in r.histories.items()}}
        for r in study.runs[family]
    }


def compare(baseline: Study, results: Study) -> dict:
    """The drift report as data: per family the shifts, then claims and environment."""
    from reproduce.claims import CLAIMS

    report = {"families": {}, "claims": [], "environment": {}}
    for family in sorted(set(baseline.runs) & set(results.runs)):
        reference = distribution.reference(seeds_doc(baseline, family))
        if reference["n"] < 2:
            continue  # one seed has no spread (the replicate family)
        shifts = distribution.shifts(seeds_doc(results, family), reference)
        largest: dict[str, distribution.Shift] = {}
        for s in shifts:
            if s.curve not in largest or abs(s.in_sds) > abs(largest[s.curve].in_sds):
                largest[s.curve] = s
        report["families"][family] = {
            "reference_seeds": reference["seeds"],
            "seeds": sorted(int(k) for k in seeds_doc(results, family)),
            "largest_shift_in_sds": {c: s.in_sds for c, s in sorted(largest.items())},
            "significant": [s.describe() for s in distribution.significant(shifts)],
        }
    for claim in CLAIMS:
        if claim.families and set(claim.families) <= set(baseline.runs) & set(results.runs):
            before, after = claim.evaluate(baseline).verdict, claim.evaluate(results).verdict
            report["claims"].append({"claim": claim.name, "baseline": before, "results": after})
    env_before, env_after = (s.results[0].environment for s in (baseline, results))
    report["environment"] = {
        k: [env_before.get(k), env_after.get(k)]
        for k in sorted(set(env_before) | set(env_after))
        if env_before.get(k) != env_after.get(k)
    }
    return report


def changed(report: dict) -> bool:
    """True where a claim's verdict changed or a curve shifted significantly."""
    flips = any(c["baseline"] != c["results"] for c in report["claims"])
    return flips or any(f["significant"] for f in report["families"].values())


def markdown(report: dict) -> str:
    lines = ["# Drift report", "", f"Significant change: **{'yes' if changed(report) else 'no'}**.", ""]
    lines += ["## Environment", ""] + [f"- {k}: {a} -> {b}" for k, (a, b) in report["environment"].items()]
    lines += ["", "## Claims", "", "| claim | baseline | results |", "|---|---|---|"]
    for c in report["claims"]:
        mark = " **(changed)**" if c["baseline"] != c["results"] else ""
        lines.append(f"| {c['claim']} | {c['baseline']} | {c['results']}{mark} |")
    for family, f in report["families"].items():
        lines += [
            "",
            f"## {family} (results seeds {f['seeds']} against reference seeds {f['reference_seeds']})",
            "",
        ]
        lines += [f"- significant: {s}" for s in f["significant"]] or ["- no significant shift"]
        lines += ["", "| curve | largest shift (seed sds) |", "|---|---|"]
        lines += [f"| {c} | {v:+.2f} |" for c, v in f["largest_shift_in_sds"].items()]
    return "\n".join(lines) + "\n"


def write(baseline_dir: Path, results_dir: Path, out: Path) -> dict:
    """Compare, then write ``out/drift.md`` and ``out/drift.json``."""
    report = compare(load_runs(baseline_dir), load_runs(results_dir))
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.md").write_text(markdown(report))
    write_json_atomic(out / "drift.json", report)
    return report
