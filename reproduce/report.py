"""Figures (the lecture's plots, seeds as mean and band) and the Markdown claims report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from reproduce.judging import distribution  # noqa: E402
from reproduce.judging.claims import Judgement  # noqa: E402
from reproduce.judging.compare import curves_lines, curves_markdown, shifted, shifts  # noqa: E402
from reproduce.training.config import LECTURE_DATASET  # noqa: E402
from reproduce.training.losses import get_loss  # noqa: E402
from reproduce.training.results import RunResult  # noqa: E402

# One figure per panel of the lecture: (file name, experiment, measures, y label).
FIGURES = (
    ("regression-loss.png", "regression", ("train_loss",), "Training loss"),
    ("regression-ssim.png", "regression", ("ssim", "ssim_lecture"), "Test SSIM"),
    ("regression-mae.png", "regression", ("mae",), "Test MAE"),
    ("classification-loss.png", "classification", ("train_loss",), "Training loss"),
    ("classification-accuracy.png", "classification", ("accuracy",), "Test accuracy (%)"),
)
MEASURE_NAMES = {
    "ssim": "test-set mean, range 1",
    "ssim_lecture": "first test image, range 2 (notebook)",
}


# Negative controls get a panel of their own: NLL on raw scores sits near 11 % accuracy and its
# loss falls below -80, which would squeeze the lecture's curves (91-97 %) into a sliver.
CONTROLS = distribution.DIVERGING_CONTROLS


def draw(results: Sequence[RunResult], measures, ylabel: str):
    """The figure: per measure, a panel of the lecture's losses and one of the controls, if run."""
    # In the config's order (net1, net2, ...): saved JSON holds the histories sorted by name.
    losses = list(dict.fromkeys(name for r in results for name in r.config.losses if name in r.histories))
    colours = {loss: f"C{i}" for i, loss in enumerate(losses)}  # a loss keeps its colour across panels
    lecture, controls = [x for x in losses if x not in CONTROLS], [x for x in losses if x in CONTROLS]
    groups = [g for g in (lecture, controls) if g]
    panels = [(measure, group) for measure in measures for group in groups]
    widths = [1 if group[0] in CONTROLS else 1.6 for _, group in panels]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.5 * sum(widths), 4), squeeze=False, width_ratios=widths
    )
    seeds = sorted({r.config.seed for r in results})
    for ax, (measure, group) in zip(axes[0], panels):
        for loss in group:
            curves = [r.histories[loss].curve(measure) for r in results if loss in r.histories]
            epochs = range(1, len(curves[0]) + 1)
            columns = list(zip(*curves))
            mean = [sum(c) / len(c) for c in columns]
            ax.plot(epochs, mean, marker="o", ms=3, color=colours[loss], label=get_loss(loss).title)
            if len(curves) > 1:
                low, high = [min(c) for c in columns], [max(c) for c in columns]
                ax.fill_between(epochs, low, high, color=colours[loss], alpha=0.2, lw=0)
        title = ylabel + (f" ({MEASURE_NAMES[measure]})" if measure in MEASURE_NAMES else "")
        if group[0] in CONTROLS:
            title = "Negative control, own axis"
        ax.set(xlabel="Epoch", ylabel=ylabel, title=f"{title}\nseeds {seeds}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot(results: Sequence[RunResult], measures, ylabel: str, path: Path) -> Path:
    """Each loss's curve over epochs: mean over the runs (seeds) and a min-max band."""
    fig = draw(results, measures, ylabel)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figures(results: Sequence[RunResult], folder: Path) -> list[Path]:
    """The lecture's figures for whichever experiments the results hold."""
    written = []
    for name, experiment, measures, ylabel in FIGURES:
        runs = [r for r in results if r.config.experiment == experiment and not r.config.shared_init]
        if runs:
            written.append(plot(runs, measures, ylabel, folder / name))
    return written


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def environment_line(env: dict) -> str:
    """``Python 3.11.7, torch 2.14.1, torchvision 0.29.1, cpu (AMD EPYC), 1 thread(s)``: the
    documented fields the results have (a course's notebook writes some of them)."""
    parts = [
        f"{name} {env[key]}"
        for key, name in (("python", "Python"), ("torch", "torch"), ("torchvision", "torchvision"))
        if env.get(key)
    ]
    if env.get("device"):
        named = env.get("device_name") or env.get("cpu_model")
        parts.append(env["device"] + (f" ({named})" if named else ""))
    if env.get("threads"):
        parts.append(f"{env['threads']} thread(s)")
    return ", ".join(parts) or "environment not recorded"


def claim_record(j: Judgement) -> dict:
    """One claim's entry in claims.json."""
    return {
        "id": j.claim.id,
        "name": j.claim.name,
        "expected": j.expected,
        "measured": j.evidence.verdict,
        "caveat": j.caveat,
        "summary": j.evidence.summary,
        "numbers": j.evidence.numbers,
    }


def claims_markdown(
    judgements: Sequence[Judgement], results: Sequence[RunResult], figure_paths, folder, curves=None
) -> str:
    """A table of claim, quote, time, expected and measured verdict, and the key numbers; then
    the curves against the reference distribution (``compare.judge_curves``), if judged."""
    seeds = sorted({r.config.seed for r in results})
    env = results[0].environment if results else {}
    configs = {(r.config.scale, r.config.dataset, r.config.device) for r in results}
    judged = [j for j in judgements if j.evidence.holds is not None]
    agree = sum(j.as_expected for j in judged)
    lines = [
        "# Lecture 22 claims report",
        "",
        f"{agree}/{len(judged)} judged claims measured as expected"
        + (f", {len(judgements) - len(judged)} not judged" if len(judged) < len(judgements) else "")
        + f". Seeds {seeds} (N = {len(seeds)}); scale/dataset/device {sorted(configs)}; "
        f"{environment_line(env)}.",
        "",
        "| claim | the lecture says | at | expected | measured | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for j in judgements:
        mark = "" if j.as_expected or j.evidence.holds is None else " **(differs)**"
        lines.append(
            f"| {j.claim.name} | {_cell(j.claim.quote)} | {j.claim.at} | {j.expected} | "
            f"{j.verdict}{mark} | {_cell(j.evidence.summary)} |"
        )
    datasets = {r.config.dataset for r in results}
    if datasets - {LECTURE_DATASET}:
        lines += ["", f"## Numbers the lecture quotes from {LECTURE_DATASET.upper()}", ""]
        lines += [
            f"On {', '.join(sorted(datasets))} these claims are judged with that dataset's own "
            "measured bounds for the quoted numbers; the rest of each reading keeps the "
            f"{LECTURE_DATASET.upper()} bounds.",
            "",
        ]
        lines += [
            f"- **{j.claim.name}**: {j.claim.mnist_numbers}" for j in judgements if j.claim.mnist_numbers
        ]
    if curves is not None:
        lines += ["", "## Curves against the reference distribution", ""] + curves_markdown(curves)
    lines += ["", "## How each claim is read", ""]
    lines += [f"- **{j.claim.name}**: {j.claim.reading}" for j in judgements]
    lines += ["", "## Figures", ""]
    lines += [f"![{p.stem}]({Path(p).relative_to(folder).as_posix()})" for p in figure_paths]
    return "\n".join(lines) + "\n"


def summary_markdown(judgements: Sequence[Judgement], differing: Sequence[Judgement], curves) -> str:
    """The verdict in short, for a CI job's page (``$GITHUB_STEP_SUMMARY``) and ``summary.md``:
    every claim's verdict, then the curves' as the terminal shows them, every shift included."""
    judged = [j for j in judgements if j.evidence.holds is not None]
    curves_said = "curves shifted" if shifted(curves) else "no curve shifted"
    lines = [
        f"## Lecture 22: {len(differing)} claim(s) differ from the expected verdict, {curves_said}",
        "",
        f"{sum(j.as_expected for j in judged)}/{len(judged)} judged claims as expected"
        f", {len(judgements) - len(judged)} not judged.",
        "",
        "| claim | expected | measured | |",
        "|---|---|---|---|",
    ]
    for j in judgements:
        said = "**differs**" if j in differing else "as expected" if j.evidence.holds is not None else ""
        if j.evidence.holds is None:
            said += f"{' ' if said else ''}not judged: {_cell(j.evidence.summary)}"
        lines.append(f"| {j.claim.name} | {j.expected} | {j.verdict} | {said} |")
    lines += ["", "### Curves", "", "```text", *curves_lines(curves), "```"]
    lines += ["", "The whole report, with the evidence behind every verdict: `report.md` beside this file."]
    return "\n".join(lines) + "\n"


def annotations(
    judgements: Sequence[Judgement], differing: Sequence[Judgement], curves, file: str
) -> list[str]:
    """GitHub workflow commands that mark ``file`` (the course's notebook): an ``::error`` per
    claim that differs and per shifted curve, a ``::warning`` per claim not judged."""

    def command(level: str, title: str, message: str) -> str:
        return f"::{level} file={_property(file)},title={_property(title)}::{_data(message)}"

    found = [
        command(
            "error",
            f"claim {j.claim.name} differs",
            f"expected {j.expected}, measured {j.verdict}: {j.evidence.summary}",
        )
        for j in differing
    ]
    found += [
        command("warning", f"claim {j.claim.name} not judged", j.evidence.summary)
        for j in judgements
        if j.evidence.holds is None and j not in differing
    ]
    found += [command("error", "curve shifted", shift) for shift in shifts(curves)]
    return found


def _data(text: str) -> str:
    """A workflow command's message, escaped as the runner reads it back."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
