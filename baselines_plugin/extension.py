"""The syrupy extension: numeric baselines as readable JSON, compared with real tolerances.

Files live at ``<rootdir>/baselines/<folder>/<test module>/<test name>.json``. ``<folder>`` is
one or more levels that the ``pytest_baselines_folder`` hook names for a test (the plugin's
default: its device's folder, then its dataset, e.g. ``cpu/mnist``). The test name carries every
parameter, so two tests never share a file, and the name is syrupy's own, so syrupy's
unused-snapshot accounting (stale baselines fail a full run, ``--snapshot-update`` deletes them)
works unchanged, under pytest-xdist too.

A subclass declares ``tolerances`` (see tolerance.py); matching parses both sides and compares
every float within its field's tolerance, so numbers that wobble inside it never fail and
``--snapshot-update`` leaves such a file untouched.

Discovery covers the whole ``baselines/`` tree but only the files this session could have
used: the plugin registers a predicate under ``IN_SCOPE`` in ``config.stash``, and the
baselines it rules out (those of values a narrowing option such as ``--scale smoke`` left out)
are neither used nor unused, so such a run never reports or deletes the others' baselines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from baselines_plugin.tolerance import Tolerances, compare

BASELINES = "baselines"
# Set by the plugin (plugin.py) in pytest_configure.
FOLDER = pytest.StashKey[Callable[[pytest.Item], str]]()  # a test's folder under baselines/
IN_SCOPE = pytest.StashKey[Callable[[Path], bool]]()  # could this session use that baseline?
SIGNIFICANT_DIGITS = 12  # storage only: hides float noise like 69.89999999999999, far below
# every tolerance (relative 5e-13); the comparison itself never rounds.
# Short, and right after the headline: pytest cuts an assertion's explanation after 8 lines or
# 640 characters (-vv shows it all).
REMEDY = "If deliberate, rerun this pytest command with --snapshot-update and commit baselines/."


def _in_scope(test_location) -> Callable[[Path], bool]:
    return test_location.item.config.stash.get(IN_SCOPE, lambda _: True)


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
        # Also asked for tests that take no baseline (syrupy scans from every test module).
        folder = test_location.item.config.stash[FOLDER](test_location.item)
        return str(cls.root(test_location) / folder / test_location.basename)

    @classmethod
    def discovery_dirname(cls, *, test_location) -> str:
        return str(cls.root(test_location))

    def owns_snapshot_collection(self, *, filepath: str, test_location) -> bool:
        path = Path(filepath)
        try:
            parts = path.relative_to(self.root(test_location)).parts
        except ValueError:
            return False
        # <folder>/<module>/<name>.json, the folder one level or more (e.g. cuda/<card>/mnist).
        return len(parts) >= 3 and path.suffix == ".json" and _in_scope(test_location)(path)

    def discover_snapshots(self, *, test_location, ignore_extensions=None):
        if hasattr(JSONSnapshotExtension, "owns_snapshot_collection"):  # syrupy >= 7
            return super().discover_snapshots(
                test_location=test_location, ignore_extensions=ignore_extensions
            )
        # syrupy < 7 (Python 3.10 gets syrupy 6) scans only ``dirname``, the folder of a module's
        # first test, and has no owns_snapshot_collection: scan the whole tree here, keeping the
        # files this extension owns and this session could use, as syrupy 7 does.
        from syrupy.data import SnapshotCollections, SnapshotEmptyCollection
        from syrupy.utils import walk_snapshot_dir

        found = SnapshotCollections()
        for filepath in walk_snapshot_dir(self.root(test_location), ignore_extensions=ignore_extensions):
            if self.owns_snapshot_collection(filepath=filepath, test_location=test_location):
                collection = self.read_snapshot_collection(snapshot_location=filepath)
                if not collection.has_snapshots:
                    collection = SnapshotEmptyCollection(location=filepath)
                found.add(collection)
        return found
