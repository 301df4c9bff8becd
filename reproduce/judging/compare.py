"""``reproduce compare BASELINE RESULTS``: how far one set of results drifted from another.

For a maintainer at a torch bump, a new GPU or an edited notebook: both sides are folders of
run JSONs as ``reproduce run``/``claims`` write them (``<dir>/runs/*.json``, or the folder
itself). Nets are matched, not families: every net of the results (family, loss) that the
baseline trained over at least 2 seeds is judged, curve by curve (its final value and its mean
over epochs), against the baseline seeds' distribution, as the distribution tier judges a test run
(``reproduce.judging.distribution``; Holm per family). The seeds both sides trained are also paired,
each results seed against the baseline's same seed, within the floating-point noise measured
for the setting (``reproduce.judging.paired``): the same seeds on other bits differ by far less than
seeds do. The same judgement runs in ``reproduce claims`` (and ``--results``) against the
reference and the seeds shipped in the package. The report names each curve's largest
shift in reference seed sds, the significant ones, how many curves were judged and which nets
could not be, the claims whose verdict changed and the environment diff. A comparison in which
no curve could be judged is refused: "no change" must mean something was compared.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

from reproduce.judging import distribution, paired
from reproduce.training.results import RunResult, write_json_atomic
from reproduce.training.study import MIN_SEEDS, Study


def load_runs(folder: Path) -> Study:
    """Every run JSON under ``folder/runs`` (or ``folder``), as a Study; one line if there are none."""
    runs = folder / "runs" if (folder / "runs").is_dir() else folder
    paths = sorted(runs.rglob("*.json"))
    if not paths:
        raise ValueError(
            f"no run JSON files in {runs}; expected the runs/ folder that `reproduce claims` writes"
        )
    return Study.of([run for path in paths for run in _runs_in(path)])


def _runs_in(path: Path) -> list[RunResult]:
    """The runs of one file: a run as ``reproduce run`` and ``claims`` write it, or a course
    notebook's lecture22-results document (validated as ``claims --results`` validates it)."""
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not JSON: {error}") from None
    if isinstance(document, dict) and document.get("format") == "lecture22-results":
        from reproduce.judging import external

        return external.load_results(path)
    try:
        return [RunResult.from_dict(document)]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"{path}: neither a run JSON (as reproduce run and claims write them) nor lecture22-results: "
            f"{error}"
        ) from None


def seeds_doc(study: Study, family: str) -> dict:
    return {
        str(r.config.seed): {"histories": {k: dataclasses.asdict(h) for k, h in r.histories.items()}}
        for r in study.runs[family]
    }


def references_of(baseline: Study) -> dict[str, dict]:
    """Per family, the distribution of the baseline's seeds (the results are judged against it)."""
    return {family: distribution.reference(seeds_doc(baseline, family)) for family in baseline.runs}


def judge_curves(
    results: Study, references: Mapping[str, Mapping], baseline: paired.Baseline | None = None
) -> dict:
    """Every net of ``results`` that a reference has, judged against it; the rest named. Where
    ``baseline`` is given, the seeds it trained too are also paired with it (``reproduce.judging.paired``).

    ``{"families": {family: {seeds, reference_seeds, curves_judged, largest_shift_in_sds,
    significant, tiers, paired}}, "not_judged": [why, ...], "curves_judged": n}``.
    """
    report = {"families": {}, "not_judged": [], "curves_judged": 0}
    for family in results.runs:
        fresh = seeds_doc(results, family)
        ref = references.get(family)
        losses = sorted({loss for run in fresh.values() for loss in run["histories"]})
        if ref is None:
            report["not_judged"].append(
                f"{family} nets {' '.join(losses)}: the reference has no {family} runs"
            )
            continue
        if ref["n"] < MIN_SEEDS:
            report["not_judged"].append(
                f"{family} nets {' '.join(losses)}: the reference has {ref['n']} seed, no spread to judge by"
            )
            continue
        have = {key for key in distribution.curves_by_seed(fresh) if distribution.tested(key)}
        common = have & set(ref["curves"])
        absent = sorted({key.split("/")[0] for key in have - common})
        if absent:
            report["not_judged"].append(f"{family} nets {' '.join(absent)}: not in the reference")
        if not common:
            continue
        shifts = distribution.shifts(fresh, ref, only=common)
        largest: dict[str, distribution.Shift] = {}
        for s in shifts:
            if s.curve not in largest or abs(s.in_sds) > abs(largest[s.curve].in_sds):
                largest[s.curve] = s
        pairing = baseline and baseline.judge(family, fresh, results.runs[family][0].environment)
        report["families"][family] = {
            "reference_seeds": ref["seeds"],
            "seeds": sorted(int(k) for k in fresh),
            "curves_judged": len(common),
            "largest_shift_in_sds": {c: s.in_sds for c, s in sorted(largest.items())},
            "significant": [s.describe() for s in distribution.significant(shifts)],
            "tiers": ["paired", "distribution"] if pairing and pairing.judged else ["distribution"],
            "paired": pairing and pairing.as_dict(),
        }
        report["curves_judged"] += len(common)
    return report


def paired_with(baseline: Study) -> paired.Baseline:
    """A baseline folder's runs as what fresh runs pair with: its seeds, in the noise of its
    setting, measured in the shipped reference's seed sds."""
    from reproduce.judging import references

    try:
        shipped = references.load(baseline.dataset, baseline.scale)
    except ValueError:
        shipped = {}
    return paired.Baseline(
        {family: seeds_doc(baseline, family) for family in baseline.runs},
        baseline.results[0].environment,
        shipped,
        paired.load_noise(baseline.dataset, baseline.scale),
    )


def holdings(study: Study) -> str:
    """What a study holds, for messages: ``regression nets l1 mse, seeds 0 1 2; ...``."""
    held = []
    for family, runs in study.runs.items():
        seeds = " ".join(str(r.config.seed) for r in runs)
        held.append(f"{family} nets {' '.join(sorted(runs[0].histories))}, seeds {seeds}")
    return "; ".join(held)


def shifted(curves: Mapping) -> bool:
    """Whether any family shifted: significantly against the reference, or beyond the
    floating-point noise of its paired seeds."""
    return any(f["significant"] or (f.get("paired") or {}).get("failed") for f in curves["families"].values())


def compare(baseline: Study, results: Study) -> dict:
    """The drift report as data: the curves judged, then claims and environment."""
    from reproduce.judging.claims import CLAIMS

    settings = [(s.dataset, s.scale) for s in (baseline, results)]
    if settings[0] != settings[1]:
        raise ValueError(
            f"the baseline is {settings[0][0]} at {settings[0][1]} scale, the results {settings[1][0]} "
            f"at {settings[1][1]} scale: curves compare only within one dataset and scale"
        )
    report = judge_curves(results, references_of(baseline), paired_with(baseline))
    if not report["curves_judged"]:
        raise ValueError(
            f"no curve could be judged: {'; '.join(report['not_judged'])} (the baseline holds "
            f"{holdings(baseline)}; the results hold {holdings(results)})"
        )
    report["claims"] = []
    for claim in CLAIMS:
        if claim.nets and not claim.missing(baseline) and not claim.missing(results):
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
    return any(c["baseline"] != c["results"] for c in report["claims"]) or shifted(report)


def paired_said(family: str, found: Mapping | None) -> str:
    """What the paired tier said of a family, in words."""
    if not found:
        return f"{family}: not paired (no baseline seeds to pair with)"
    if not found["draws_match"]:
        return f"{family}: {found['note']}"
    verdict = f"{len(found['beyond'])} beyond the noise" if found["beyond"] else "within the noise"
    return (
        f"{family}: seeds {' '.join(map(str, found['seeds']))}, {found['summaries_judged']} "
        f"summaries {verdict}; largest {found['largest']}"
    )


def _draws_differ(found: Mapping | None) -> bool:
    """The paired tier failed because the draws differ where they must not (same torch)."""
    return bool(found) and not found["draws_match"] and found["failed"]


def paired_line(family: str, found: Mapping | None) -> str:
    """One terminal line: ``DIFFERS`` where draws differ where they must not, else ``paired``."""
    return f"{'DIFFERS' if _draws_differ(found) else 'paired '} {paired_said(family, found)}"


def _significant(curves: Mapping) -> list[str]:
    """Each shift against the reference distribution, named by its family."""
    return [f"{family}: {s}" for family, f in curves["families"].items() for s in f["significant"]]


def _beyond_the_noise(family: str, found: Mapping | None) -> list[str]:
    """Each summary the paired tier found beyond the floating-point noise, named by its family."""
    return [f"{family} (paired): {d}" for d in (found or {}).get("beyond", [])]


def shifts(curves: Mapping) -> list[str]:
    """Every shift the curves' judgement found, one description each: against the reference
    distribution, then per family draws that differ where they must not and summaries beyond
    the paired seeds' noise (what ``SHIFTED`` and ``DIFFERS`` mark in :func:`curves_lines`)."""
    found = _significant(curves)
    for family, f in curves["families"].items():
        paired_found = f.get("paired")
        found += [paired_said(family, paired_found)] if _draws_differ(paired_found) else []
        found += _beyond_the_noise(family, paired_found)
    return found


def curves_lines(curves: Mapping) -> list[str]:
    """The curves' judgement for the terminal: one line, plus one per shift and per net not judged,
    and a line per family for the paired tier where it ran."""
    significant = [f"SHIFTED {s}" for s in _significant(curves)]
    verdict = f"{len(significant)} significant shift(s)" if significant else "no significant shift"
    lines = [f"curves  {curves['curves_judged']} judged against the reference distribution: {verdict}"]
    lines += significant + [f"curves  not judged: {why}" for why in curves["not_judged"]]
    for family, f in curves["families"].items():
        if "paired" in f:
            lines.append(paired_line(family, f["paired"]))
            lines += [f"SHIFTED {s}" for s in _beyond_the_noise(family, f["paired"])]
    return lines


def curves_markdown(curves: Mapping) -> list[str]:
    """The curves section of a report: per family, what was judged and what moved."""
    lines = [f"{curves['curves_judged']} curves judged against the reference distribution."]
    lines += [f"- not judged: {why}" for why in curves["not_judged"]]
    for family, f in curves["families"].items():
        lines += [
            "",
            f"### {family}: {f['curves_judged']} curves, seeds {f['seeds']} against reference seeds "
            f"{f['reference_seeds']}",
            "",
        ]
        lines += [f"- significant: {s}" for s in f["significant"]] or ["- no significant shift"]
        if "paired" in f:
            lines.append(f"- tiers: {', '.join(f['tiers'])}; {paired_said(family, f['paired'])}")
            lines += [
                f"- beyond the floating-point noise: {d}" for d in (f["paired"] or {}).get("beyond", [])
            ]
        lines += ["", "| curve | largest shift (reference seed sds) |", "|---|---|"]
        lines += [f"| {c} | {v:+.2f} |" for c, v in f["largest_shift_in_sds"].items()]
    return lines


def markdown(report: dict) -> str:
    lines = ["# Drift report", "", f"Significant change: **{'yes' if changed(report) else 'no'}**.", ""]
    lines += ["## Environment", ""] + [f"- {k}: {a} -> {b}" for k, (a, b) in report["environment"].items()]
    lines += ["", "## Claims", "", "| claim | baseline | results |", "|---|---|---|"]
    for c in report["claims"]:
        mark = " **(changed)**" if c["baseline"] != c["results"] else ""
        lines.append(f"| {c['claim']} | {c['baseline']} | {c['results']}{mark} |")
    lines += ["", "## Curves", ""] + curves_markdown(report)
    return "\n".join(lines) + "\n"


def write(baseline_dir: Path, results_dir: Path, out: Path) -> dict:
    """Compare, then write ``out/drift.md`` and ``out/drift.json``."""
    report = compare(load_runs(baseline_dir), load_runs(results_dir))
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.md").write_text(markdown(report))
    write_json_atomic(out / "drift.json", report)
    return report
