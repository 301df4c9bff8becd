"""What a claim is: the lecture's words, how they are read, the bounds, the check, the control.

A claim's bounds and expected verdict are looked up per *setting*: ``"<dataset>/<scale>"``
first, then ``"<scale>"``, then ``"any"``. So a bound that quotes an MNIST number (the lecture's
"around 91 %") can have a Fashion-MNIST value of its own, while a dataset-independent reading
(an ordering, a trend, an equality) keeps one bound for every dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

from reproduce.judging.evidence import (
    REPRODUCED,
    CannotJudge,
    Evidence,
    fmt,
    has_nan,
    over_seeds,
    rank_correlation,
)
from reproduce.training.config import LECTURE_DATASET
from reproduce.training.results import History
from reproduce.training.study import Nets, Study, families_for

ANY = "any"  # a setting key that matches every dataset and scale


def lookup(table: Mapping[str, object], dataset: str | None, scale: str | None, what: str):
    """``table["<dataset>/<scale>"]``, else ``table["<scale>"]``, else ``table["any"]``."""
    for key in (f"{dataset}/{scale}", scale, ANY):
        if key in table:
            return table[key]
    raise KeyError(f"no {what} for dataset {dataset!r} at scale {scale!r}; have {sorted(table)}")


class Bounds(SimpleNamespace):
    """Named thresholds for one setting, as plain attributes, with the measurement (and command)
    they were read from. The names are the keywords each claim's table gives, and a check reads
    them as attributes.

    >>> b = Bounds("lecture seeds 0-4: 0.818 ± 0.001", min_gain=0.5)
    >>> b.min_gain
    0.5
    """

    def __init__(self, measured: str, **thresholds: float):
        super().__init__(measured=measured, **thresholds)


NO_BOUNDS = {ANY: Bounds("this claim has no numeric bound")}


@dataclass(frozen=True)
class Claim:
    id: str  # "A1" ... "B8", as in shared/CLAIMS.md
    slug: str  # a few words; with the id it names the test
    at: str  # where the lecture says it (the transcript's timestamps)
    quote: str  # the lecture's words, lightly trimmed
    reading: str  # what exactly is checked, where the lecture is vague
    check: Callable[..., Evidence]  # (study, bounds[, probed]) -> Evidence
    violate: Callable[[Study], None] | None  # negative control: breaks a study the claim holds on
    expected: str | Mapping[str, str] = REPRODUCED  # a verdict, or one per setting
    bounds: Mapping[str, Bounds] = field(default_factory=lambda: NO_BOUNDS)
    nets: tuple[Nets, ...] = ()  # the nets its evidence reads; () = needs no training
    probe: Callable[[], dict] | None = None  # reproduce.judging.probes: a measurement of its own
    mnist_numbers: str = ""  # which bound quotes the lecture's MNIST numbers, if one does
    quoted: str = ""  # that number as the lecture says it ("around 0.4"), judged on MNIST at lecture scale

    @property
    def families(self) -> tuple[str, ...]:
        """The runs of this repository's study that train its nets (() = needs no training)."""
        return families_for(self.nets)

    @property
    def name(self) -> str:
        return f"{self.id}-{self.slug}"

    def expected_at(self, dataset: str | None, scale: str | None) -> str:
        """The verdict measurement led us to expect in this setting."""
        if isinstance(self.expected, str):
            return self.expected
        return lookup(self.expected, dataset, scale, f"expected verdict of {self.name}")

    def bounds_at(self, dataset: str | None, scale: str | None) -> Bounds:
        return lookup(self.bounds, dataset, scale, f"bounds of {self.name}")

    def setting(self, study: Study | None) -> tuple[str | None, str | None]:
        """(dataset, scale) of the study, or (None, None) for a claim that needs no training."""
        return (study.dataset, study.scale) if study is not None and self.nets else (None, None)

    def missing(self, study: Study) -> str | None:
        """Why the study cannot inform this claim (nets it reads are absent), or None."""
        return next((why for nets in self.nets if (why := nets.missing_from(study))), None)

    def evaluate(self, study: Study | None) -> Evidence:
        """Run the claim's probe, if any, then its check on the study.

        Evidence that cannot be formed (nets absent, a replay that is not one, a NaN) is
        "not judged", with the reason: never a verdict either way.
        """
        bounds = self.bounds_at(*self.setting(study))
        study = study if self.nets else None
        try:
            why = self.missing(study) if study is not None else None
            if why:
                raise CannotJudge(why)
            evidence = (
                self.check(study, bounds) if self.probe is None else self.check(study, bounds, self.probe())
            )
        except CannotJudge as reason:
            return Evidence(None, str(reason))
        if has_nan(evidence.numbers):
            return Evidence(
                None, f"its evidence holds NaN, so no verdict: {evidence.summary}", evidence.numbers
            )
        return evidence

    def caveat(self, dataset: str | None, scale: str | None) -> str:
        """Where a quoted number is judged against a band measured in another setting, say so."""
        if not self.quoted or (dataset, scale) in ((LECTURE_DATASET, "lecture"), (None, None)):
            return ""
        where = ("" if dataset == LECTURE_DATASET else f"on {dataset} ") + f"at {scale} scale"
        return (
            f"{where} (bounds measured there; the lecture's {self.quoted} is judged on "
            f"{LECTURE_DATASET.upper()} at lecture scale only)"
        )

    def not_judged(self, why: str) -> Judgement:
        """This claim, not judged for the reason given (a probe's claim on results from elsewhere)."""
        return Judgement(self, Evidence(None, why), self.expected_at(None, None))

    def judge(self, study: Study | None) -> Judgement:
        """Measure the claim on the study and set the verdict beside the expected one."""
        setting = self.setting(study)
        return Judgement(self, self.evaluate(study), self.expected_at(*setting), self.caveat(*setting))


@dataclass(frozen=True)
class Judgement:
    claim: Claim
    evidence: Evidence
    expected: str

    caveat: str = ""  # Claim.caveat of the setting it was judged in

    @property
    def as_expected(self) -> bool:
        return self.evidence.verdict == self.expected

    @property
    def verdict(self) -> str:
        """The verdict with its caveat: "reproduced at smoke scale (bounds measured there; ...)"."""
        return f"{self.evidence.verdict} {self.caveat}" if self.caveat else self.evidence.verdict

    def explain(self) -> str:
        c = self.claim
        return (
            f"{c.name} ({c.at}) was expected {self.expected} and measured "
            f"{self.verdict}.\n  lecture: {c.quote!r}\n  reading: {c.reading}\n"
            f"  evidence: {self.evidence.summary}"
        )


def per_loss(
    study: Study, family: str, losses: Sequence[str], **measures: Callable[[History], float]
) -> dict[str, dict[str, float]]:
    """``{"<loss>_<measure>": stats over seeds}`` for each loss and each named per-history measure."""
    return {
        f"{loss}_{name}": over_seeds([measure(h) for h in study.histories(family, loss)])
        for loss in losses
        for name, measure in measures.items()
    }


def first(measure: str) -> Callable[[History], float]:
    """A per-history measure for :func:`per_loss`: the curve's first epoch."""
    return lambda h: h.curve(measure)[0]


def final(measure: str) -> Callable[[History], float]:
    """A per-history measure for :func:`per_loss`: the curve's last epoch."""
    return lambda h: h.curve(measure)[-1]


def trend(measure: str) -> Callable[[History], float]:
    """A per-history measure for :func:`per_loss`: Spearman's rho of the curve against epoch."""
    return lambda h: rank_correlation(h.curve(measure))


def summarize(numbers: Mapping[str, dict[str, float]], digits: int = 3) -> str:
    """``name: mean ± sd (n, min..max)`` for each entry, comma-separated."""
    return ", ".join(f"{k}: {fmt(v, digits)}" for k, v in numbers.items())
