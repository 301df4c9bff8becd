"""Compare two JSON documents number by number, with a tolerance per field.

Why not round and compare text: a value that moves from 0.12344 to 0.12346 crosses a rounding
boundary and would fail while a move from 0.12346 to 0.12354 would pass. Here every float is
compared with ``|received - baseline| <= max(absolute, relative * |baseline|)``, so the
outcome depends only on the distance. Integers, booleans, strings and null compare exactly, and
the structure (keys, list lengths, types) must match.

A field's tolerance is that of the nearest enclosing key that has one: with
``Tolerances(accuracy=Tolerance(absolute=0.1))`` both ``$.ce.metrics.accuracy[2]`` and
``$.ce.untrained.accuracy`` get 0.1. A float under no such key compares exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tolerance:
    absolute: float = 0.0
    relative: float = 0.0  # of the baseline's magnitude

    def allowed(self, baseline: float) -> float:
        """The largest distance from ``baseline`` that still passes."""
        return max(self.absolute, self.relative * abs(baseline))

    def __str__(self) -> str:
        parts = [f"abs {self.absolute:g}"] * bool(self.absolute)
        parts += [f"rel {self.relative:g}"] * bool(self.relative)
        return " or ".join(parts) or "exact"


EXACT = Tolerance()


class Tolerances:
    """Per-field tolerances, looked up by the nearest enclosing key in a JSON path."""

    def __init__(self, **fields: Tolerance):
        self.fields = fields

    def for_path(self, keys: tuple) -> Tolerance:
        for key in reversed(keys):
            if key in self.fields:
                return self.fields[key]
        return EXACT


@dataclass(frozen=True)
class NumberDiff:
    """One float farther from its baseline than its tolerance allows."""

    path: str
    received: float
    baseline: float
    tolerance: Tolerance

    @property
    def absolute_error(self) -> float:
        return abs(self.received - self.baseline)

    @property
    def relative_error(self) -> float:
        if self.baseline == 0:
            return math.inf if self.received != 0 else 0.0
        return self.absolute_error / abs(self.baseline)

    @property
    def excess(self) -> float:
        """How many tolerances away from the baseline (inf where the tolerance is exact)."""
        allowed = self.tolerance.allowed(self.baseline)
        return self.absolute_error / allowed if allowed else math.inf

    def __str__(self) -> str:
        return (
            f"{self.path}: received {self.received:.10g}, baseline {self.baseline:.10g}, "
            f"|diff| {self.absolute_error:.3g} (rel {self.relative_error:.3g}) "
            f"> tolerance {self.tolerance}"
        )


@dataclass
class Comparison:
    floats_compared: int = 0
    beyond_tolerance: list[NumberDiff] = field(default_factory=list)
    other_differences: list[str] = field(default_factory=list)  # structure, types, exact values

    @property
    def ok(self) -> bool:
        return not self.beyond_tolerance and not self.other_differences

    def headline(self) -> str:
        """One line: how many values differ, of each kind."""
        parts = []
        if self.beyond_tolerance:
            parts.append(
                f"{len(self.beyond_tolerance)} of {self.floats_compared} numbers differ beyond tolerance"
            )
        if self.other_differences:
            parts.append(
                f"{len(self.other_differences)} other difference(s) in structure, types or exact values"
            )
        return "; ".join(parts) + "." if parts else "No differences."

    def details(self, limit: int = 10) -> list[str]:
        """The worst errors and where, then each difference, worst first, ``limit`` per kind."""
        lines = []
        diffs = sorted(self.beyond_tolerance, key=lambda d: d.excess, reverse=True)
        if diffs:
            worst_abs = max(diffs, key=lambda d: d.absolute_error)
            worst_rel = max(diffs, key=lambda d: d.relative_error)
            lines += [
                f"Worst absolute error {worst_abs.absolute_error:.3g} at {worst_abs.path}",
                f"Worst relative error {worst_rel.relative_error:.3g} at {worst_rel.path}",
            ]
        for kind in (diffs, self.other_differences):
            lines += [f"  {d}" for d in kind[:limit]]
            lines += [f"  ... and {len(kind) - limit} more"] * (len(kind) > limit)
        return lines


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, str, dict, list)):
        return type(value).__name__
    return "null" if value is None else type(value).__name__


def _path(keys: tuple) -> str:
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)


def compare(received, baseline, tolerances: Tolerances, keys: tuple = ()) -> Comparison:
    """Every difference between two parsed JSON documents, floats within tolerance excepted."""
    result = Comparison()
    _walk(received, baseline, tolerances, keys, result)
    return result


def _walk(received, baseline, tolerances: Tolerances, keys: tuple, out: Comparison) -> None:
    where = _path(keys)
    kinds = _kind(received), _kind(baseline)
    if kinds[0] != kinds[1]:
        out.other_differences.append(
            f"{where}: received {kinds[0]} {received!r}, baseline {kinds[1]} {baseline!r}"
        )
    elif isinstance(received, dict):
        for key in baseline.keys() - received.keys():
            out.other_differences.append(f"{_path((*keys, key))}: missing (in baseline only)")
        for key in received.keys() - baseline.keys():
            out.other_differences.append(f"{_path((*keys, key))}: new (not in baseline)")
        for key in received.keys() & baseline.keys():
            _walk(received[key], baseline[key], tolerances, (*keys, key), out)
    elif isinstance(received, list):
        if len(received) != len(baseline):
            out.other_differences.append(f"{where}: received {len(received)} items, baseline {len(baseline)}")
        for index, (r, b) in enumerate(zip(received, baseline, strict=False)):
            _walk(r, b, tolerances, (*keys, index), out)
    elif isinstance(received, float):
        out.floats_compared += 1
        tolerance = tolerances.for_path(keys)
        same = received == baseline or (math.isnan(received) and math.isnan(baseline))
        if not same and not abs(received - baseline) <= tolerance.allowed(baseline):
            out.beyond_tolerance.append(NumberDiff(where, received, baseline, tolerance))
    elif received != baseline:
        out.other_differences.append(f"{where}: received {received!r}, baseline {baseline!r}")
