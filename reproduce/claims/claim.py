"""What a claim is: the lecture's words, how they are read, the bounds, the check, the control.

A claim's bounds and expected verdict are looked up per *setting*: ``"<dataset>/<scale>"``
first, then ``"<scale>"``, then ``"any"``. So a bound that quotes an MNIST number (the lecture's
"around 91 %") can have a Fashion-MNIST value of its own, while a dataset-independent reading
(an ordering, a trend, an equality) keeps one bound for every dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from reproduce.evidence import REPRODUCED, Evidence, fmt, over_seeds, rank_correlation
from reproduce.results import History
from reproduce.study import Study

ANY = "any"  # a setting key that matches every dataset and scale


def lookup(table: Mapping[str, object], dataset: str | None, scale: str | None, what: str):
    """``table["<dataset>/<scale>"]``, else ``table["<scale>"]``, else ``table["any"]``."""
    for key in (f"{dataset}/{scale}", scale, ANY):
        if key in table:
            return table[key]
    raise KeyError(f"no {what} for dataset {dataset!r} at scale {scale!r}; have {sorted(table)}")


class Bounds:
    """Named thresholds for one setting, with the measurement (and command) they were read from.

    >>> b = Bounds("lecture seeds 0-4: 0.818 ± 0.001", min_gain=0.5)
    >>> b.min_gain
    0.5
    """

    def __init__(self, measured: str, **values):
        self.measured = measured
        self.values = values

    def __getattr__(self, name: str):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(f"no bound named {name!r}; have {sorted(self.values)}") from None

    def __repr__(self) -> str:
        return f"Bounds({self.values}, measured={self.measured!r})"


NO_BOUNDS = {ANY: Bounds("this claim has no numeric bound")}


@dataclass(frozen=True)
class Claim:
    id: str  # "A1" ... "B8", as in shared/CLAIMS.md
    slug: str  # a few words; with the id it names the test
    at: str  # where the lecture says it (the transcript's timestamps)
    quote: str  # the lecture's words, lightly trimmed
    reading: str  # what exactly is checked, where the lecture is vague
    check: Callable[..., Evidence]  # (study, bounds[, probed]) -> Evidence
    violate: Callable[[Study], object] | None  # negative control: breaks a study the claim holds on
    expected: str | Mapping[str, str] = REPRODUCED  # a verdict, or one per setting
    bounds: Mapping[str, Bounds] = field(default_factory=lambda: NO_BOUNDS)
    families: tuple[str, ...] = ()  # study runs it reads; () = needs no training
    probe: Callable[[], dict] | None = None  # reproduce.probes: a measurement of its own
    mnist_numbers: str = ""  # which bound quotes the lecture's MNIST numbers, if one does

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
        return (study.dataset, study.scale) if study is not None and self.families else (None, None)

    def evaluate(self, study: Study | None) -> Evidence:
        """Run the claim's probe, if any, then its check on the study."""
        bounds = self.bounds_at(*self.setting(study))
        study = study if self.families else None
        if self.probe is None:
            return self.check(study, bounds)
        return self.check(study, bounds, self.probe())

    def judge(self, study: Study | None) -> Judgement:
        """Measure the claim on the study and set the verdict beside the expected one."""
        return Judgement(self, self.evaluate(study), self.expected_at(*self.setting(study)))


@dataclass(frozen=True)
class Judgement:
    claim: Claim
    evidence: Evidence
    expected: str

    @property
    def as_expected(self) -> bool:
        return self.evidence.verdict == self.expected

    def explain(self) -> str:
        c = self.claim
        return (
            f"{c.name} ({c.at}) was expected {self.expected} and measured "
            f"{self.evidence.verdict}.\n  lecture: {c.quote!r}\n  reading: {c.reading}\n"
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


def seeds_where(histories: Sequence[History], change: Callable[[History], object]) -> None:
    """Apply ``change`` to every seed's history: the negative controls' one verb."""
    for history in histories:
        change(history)
