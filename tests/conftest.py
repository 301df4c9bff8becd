"""Fixtures for the snapshot baselines (see snapshot_json.py and test_baselines.py)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from snapshot_json import IN_SCOPE, BaselineExtension, baseline_params, in_scope

from reproduce.config import SCALES

# The root conftest's options that leave tests out, and the values they choose from.
NARROWING_OPTIONS = {"--device": ("cpu", "cuda"), "--scale": tuple(SCALES)}
CREATE_CUDA = "create it on a machine with CUDA with `pytest -m gpu --snapshot-update`"


def pytest_configure(config):
    config.stash[IN_SCOPE] = functools.partial(in_scope, config=config, choices=NARROWING_OPTIONS)


@pytest.fixture
def baseline(snapshot, request):
    """``assert baseline(Extension) == data``: the snapshot, in the extension's baseline file.

    Checked before the test trains anything: a missing CPU baseline fails (it is committed), a
    missing CUDA one skips saying how to create it. ``--snapshot-update`` writes either.
    """

    def of(extension: type[BaselineExtension]):
        assertion = snapshot.use_extension(extension)
        location = extension.get_location(test_location=assertion.test_location, index=assertion.index)
        option = request.config.option
        if not Path(location).is_file() and not (
            option.update_snapshots or getattr(option, "update_new_snapshots_only", False)
        ):
            where = Path(location).relative_to(request.config.rootpath)
            if baseline_params(request.node)[0] == "cuda":
                pytest.skip(f"no CUDA baseline yet at {where}: {CREATE_CUDA}")
            pytest.fail(
                f"no baseline at {where}. Create it with `pytest {request.node.nodeid} "
                "--snapshot-update` and commit it.",
                pytrace=False,
            )
        return assertion

    return of
