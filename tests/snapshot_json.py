"""A syrupy extension for numeric baselines: readable JSON, compared with real tolerances.

Files live at ``<rootdir>/baselines/<device>/<dataset>/<test module>/<test name>.json``; the
device ("cpu" or "cuda", never "cuda:N") and the dataset come from the test's ``device`` and
``dataset`` parameters. The test name carries every parameter, so two tests never share a file,
and the name is syrupy's own, so syrupy's unused-snapshot accounting (stale baselines fail a
full run, ``--snapshot-update`` deletes them) works unchanged, under pytest-xdist too.

A subclass declares ``tolerances`` (see tolerance.py); matching parses both sides and compares
every float within its field's tolerance, so numbers that wobble inside it never fail and
``--snapshot-update`` leaves such a file untouched.

Discovery covers the whole ``baselines/`` tree but only the files this session could have
used: a session narrowed by options (e.g. ``--scale smoke``, ``--device cpu``) registers a
predicate under ``IN_SCOPE`` in ``config.stash`` and the baselines it rules out are neither
used nor unused, so such a run never reports or deletes the others' baselines as stale.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension
from tolerance import Tolerances, compare

BASELINES = "baselines"
IN_SCOPE = pytest.StashKey[Callable[[Path], bool]]()
SIGNIFICANT_DIGITS = 12  # storage only: hides float noise like 69.89999999999999, far below
# every tolerance (relative 5e-13); the comparison itself never rounds.
# Short, and right after the headline: pytest cuts an assertion's explanation after 8 lines or
# 640 characters (-vv shows it all).
REMEDY = "If deliberate, rerun this pytest command with --snapshot-update and commit baselines/."


def device_kind(device: str) -> str:
    """'cuda:1' -> 'cuda': a baseline belongs to the kind of device, not to one card."""
    return device.split(":")[0]


def baseline_params(item) -> tuple[str | None, str | None]:
    """The test's (device kind, dataset) parameters; None where it has no such parameter."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    device = params.get("device")
    return (device_kind(device) if device else None), params.get("dataset")


def in_scope(path: Path, config, choices: Mapping[str, tuple[str, ...]]) -> bool:
    """False for a baseline whose name or folder holds a value the session's options leave out.

    ``choices`` maps an option (e.g. ``--scale``, default "all") to the values it picks from.
    Those tests were never generated, so syrupy would call their baselines unused (and delete
    them under ``--snapshot-update``) in a run like ``pytest --scale smoke``.
    """
    words = set(re.split(r"[\[\]\-/\\.]", str(path.relative_to(config.rootpath))))
    for option, values in choices.items():
        chosen = config.getoption(option, default="all")
        if chosen != "all" and words & (set(values) - {chosen}):
            return False
    return True


def rounded(value):
    """The document with every float kept to SIGNIFICANT_DIGITS (storage, not comparison)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def to_text(value, depth: int = 0) -> str:
    """JSON with one key per line but each flat list (a curve) on one line, for reading diffs."""
    nested = isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)
    )
    if not nested or not value:
        return json.dumps(value)
    inner, outer = " " * (depth + 1), " " * depth
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {to_text(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{outer}}}"
    return "[\n" + ",\n".join(f"{inner}{to_text(v, depth + 1)}" for v in value) + f"\n{outer}]"


class BaselineExtension(JSONSnapshotExtension):
    """Subclass it with ``tolerances = Tolerances(field=Tolerance(...), ...)``."""

    tolerances = Tolerances()

    def serialize(self, data, *, exclude=None, include=None, matcher=None) -> str:
        return to_text(rounded(data)) + "\n"

    def matches(self, *, serialized_data, snapshot_data) -> bool:
        try:
            received, baseline = json.loads(serialized_data), json.loads(snapshot_data)
        except (TypeError, ValueError):
            return False
        return compare(received, baseline, self.tolerances).ok

    def diff_lines(self, serialized_data, snapshot_data) -> Iterator[str]:
        if not snapshot_data:
            yield "There is no baseline for this test yet."
            yield REMEDY
            return
        try:
            baseline = json.loads(snapshot_data)
        except ValueError as error:
            yield f"The baseline file is not valid JSON ({error})."
            yield REMEDY
            return
        comparison = compare(json.loads(serialized_data), baseline, self.tolerances)
        yield comparison.headline()
        yield REMEDY
        yield from comparison.details()

    @classmethod
    def root(cls, test_location) -> Path:
        return Path(test_location.item.config.rootpath) / BASELINES

    @classmethod
    def dirname(cls, *, test_location) -> str:
        # Also asked for tests without these parameters (syrupy scans from every test module);
        # they get a folder of their own that never holds anything.
        device, dataset = baseline_params(test_location.item)
        return str(
            cls.root(test_location)
            / (device or "no-device")
            / (dataset or "no-dataset")
            / test_location.basename
        )

    @classmethod
    def discovery_dirname(cls, *, test_location) -> str:
        return str(cls.root(test_location))

    def owns_snapshot_collection(self, *, filepath: str, test_location) -> bool:
        path = Path(filepath)
        try:
            parts = path.relative_to(self.root(test_location)).parts
        except ValueError:
            return False
        in_scope = test_location.item.config.stash.get(IN_SCOPE, lambda _: True)
        return len(parts) == 4 and path.suffix == ".json" and in_scope(path)

    def discover_snapshots(self, *, test_location, ignore_extensions=None):
        # syrupy < 7 has no owns_snapshot_collection hook (Python 3.10 gets syrupy 6):
        # filter out-of-scope baselines here too, so they are neither unused nor deleted.
        from syrupy.data import SnapshotCollections

        in_scope = test_location.item.config.stash.get(IN_SCOPE, lambda _: True)
        kept = SnapshotCollections()
        found = super().discover_snapshots(test_location=test_location, ignore_extensions=ignore_extensions)
        for collection in found:
            if in_scope(Path(collection.location)):
                kept.add(collection)
        return kept
