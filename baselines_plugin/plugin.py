"""The pytest side of the baselines: the ``baseline`` fixture, where files go, what a session sees.

Load it from the root conftest.py with ``pytest_plugins = ["baselines_plugin.plugin"]``. A test
then writes ``assert baseline(MyExtension) == data`` (``MyExtension`` subclasses
``extension.BaselineExtension`` with its tolerances) and its file is
``baselines/<folder>/<test module>/<test name>.json``, ``<folder>`` from the
``pytest_baselines_folder`` hook (hooks.py).

The project names its narrowing options by implementing ``pytest_baselines_narrowing`` in a
conftest.py (this repository: tests/conftest.py). The plugin asks once per process, on first
use, so the implementing conftest only has to be loaded before the first baseline is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from baselines_plugin import hooks
from baselines_plugin.extension import FOLDER, IN_SCOPE, BaselineExtension

NARROWING = pytest.StashKey[dict]()
CREATE_CUDA = "create it on a machine with CUDA with `pytest -m gpu --snapshot-update`"
DELIMITERS = r"\[\]\-/\\."


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser):
    parser.getgroup("baselines").addoption(
        "--accept-shift",
        metavar="REASON",
        default=None,
        help="with --snapshot-update: accept a statistically significant shift of the training "
        "against the old reference distribution, and store REASON in the baseline",
    )


class BaselineDrift(UserWarning):
    """A baseline made in another environment: its exact numbers moved, reported, not failed."""


def pytest_configure(config):
    config.stash[FOLDER] = lambda item: config.hook.pytest_baselines_folder(item=item)
    config.stash[IN_SCOPE] = lambda path: in_scope(path, config, narrowing(config))


def baseline_params(item) -> tuple[str | None, str | None]:
    """The test's (device, dataset); None where it has no such parameter.

    The device is the ``device`` fixture's value while the test runs (e.g. ``cuda:1``, the card
    it runs on), else the parameter (``cuda``).
    """
    params = getattr(getattr(item, "callspec", None), "params", {})
    funcargs = getattr(item, "funcargs", None) or {}  # None after the test's teardown
    device = funcargs.get("device", params.get("device"))
    return device, params.get("dataset")


@pytest.hookimpl(trylast=True)
def pytest_baselines_folder(item) -> str:
    from reproduce.training import devices  # here, not above: the plugin loads without torch

    device, dataset = baseline_params(item)
    folder = devices.baseline_folder(device) if device else "no-device"
    return f"{folder}/{dataset or 'no-dataset'}"


def narrowing(config) -> dict[str, tuple[str, ...]]:
    """Every ``pytest_baselines_narrowing`` answer, merged; asked once per process."""
    if NARROWING not in config.stash:
        merged = {}
        for answer in config.hook.pytest_baselines_narrowing(config=config):
            merged.update({option: tuple(values) for option, values in answer.items()})
        config.stash[NARROWING] = merged
    return config.stash[NARROWING]


def names_in(text: str, values) -> set[str]:
    """The values that appear in ``text`` as whole names between delimiters, longest first."""
    if not values:
        return set()
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    pattern = rf"(?<![^{DELIMITERS}])(?:{alternatives})(?![^{DELIMITERS}])"
    return {match.group() for match in re.finditer(pattern, text)}


def in_scope(path: Path, config, choices: Mapping[str, Sequence[str]]) -> bool:
    """False for a baseline whose path names a value the session's options leave out."""
    relative = Path(path).relative_to(config.rootpath).as_posix()
    if config.hook.pytest_baselines_in_scope(config=config, relative=relative) is False:
        return False
    found = names_in(relative, {v for values in choices.values() for v in values})
    for option, values in choices.items():
        chosen = config.getoption(option, default=None)
        chosen = set(values) & ({chosen} if chosen is None or isinstance(chosen, str) else set(chosen))
        if chosen and found & (set(values) - chosen):
            return False
    return True


@pytest.fixture
def baseline(snapshot, request):
    """``assert baseline(Extension) == data``: the snapshot, in the extension's baseline file.

    Checked before the test computes anything: a missing baseline fails (CPU baselines are
    committed), except on a CUDA device, where it skips saying how to create it.
    ``--snapshot-update`` writes either.
    """

    def location_of(extension: type[BaselineExtension]) -> tuple[object, Path]:
        assertion = snapshot.use_extension(extension)
        location = extension.get_location(test_location=assertion.test_location, index=assertion.index)
        return assertion, Path(location)

    def read(extension: type[BaselineExtension]) -> dict | None:
        """The committed document (parsed), or None where there is none yet."""
        location = location_of(extension)[1]
        if not location.is_file():
            return None
        try:
            return json.loads(location.read_text())
        except ValueError as error:
            where = location.relative_to(request.config.rootpath)
            pytest.fail(
                f"baseline {where} is not valid JSON ({error}); restore it with `git checkout -- {where}` "
                "or regenerate it with --snapshot-update",
                pytrace=False,
            )

    def of(extension: type[BaselineExtension]):
        assertion, location = location_of(extension)
        option = request.config.option
        if not location.is_file() and not (
            option.update_snapshots or getattr(option, "update_new_snapshots_only", False)
        ):
            where = location.relative_to(request.config.rootpath)
            device = baseline_params(request.node)[0]
            if device and device.split(":")[0] == "cuda":
                pytest.skip(f"no CUDA baseline yet at {where}: {CREATE_CUDA}")
            pytest.fail(
                f"no baseline at {where}. Create it with `pytest {request.node.nodeid} "
                "--snapshot-update` and commit it.",
                pytrace=False,
            )
        return assertion

    of.read = read
    return of
