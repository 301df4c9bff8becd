"""The reference distributions shipped in the package are the baselines' own, and are installed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reproduce.judging import paired, references
from reproduce.training.config import SCALES
from reproduce.training.datasets import DATASETS

BASELINES = Path(__file__).resolve().parents[1] / "baselines" / "cpu"


# Not the conftest's (dataset, scale) settings: every shipped file, whatever the session runs.
@pytest.mark.parametrize("dataset_scale", [(d, s) for d in DATASETS for s in SCALES], ids="-".join)
def test_the_shipped_reference_is_the_baselines(dataset_scale):
    dataset, scale = dataset_scale
    shipped = references.load(dataset, scale)
    assert shipped == references.from_baselines(BASELINES, dataset, scale)["families"], (
        "the shipped reference differs from the baselines: "
        "run python -m reproduce.judging.references baselines/cpu"
    )
    assert {family: ref["n"] for family, ref in shipped.items()} == {
        family: len(ref["seeds"]) for family, ref in shipped.items()
    }


def test_a_missing_reference_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(references, "FOLDER", tmp_path)
    with pytest.raises(
        ValueError, match=r"no reference distribution for mnist at smoke scale \(.*mnist-smoke.json"
    ):
        references.load("mnist", "smoke")


def test_the_references_are_package_data():
    """A pip-installed gate has them: pyproject's package-data names every shipped file, the
    references and the paired tier's measured noise of every setting."""
    text = (BASELINES.parents[1] / "pyproject.toml").read_text()
    patterns = re.search(r'^"reproduce\.judging" = \[(.*)\]', text, re.MULTILINE).group(1)
    globs = [g.strip().strip('"') for g in patterns.split(",")]
    package = Path(references.__file__).parent
    shipped = {p.relative_to(package) for g in globs for p in package.glob(g)}
    assert {p.relative_to(package) for p in references.FOLDER.glob("*.json")} <= shipped
    settings = [(d, s) for d in DATASETS for s in SCALES]
    assert all(references.path(d, s).is_file() and paired.noise_path(d, s).is_file() for d, s in settings)
    assert len(list(references.FOLDER.glob("*.json"))) == 2 * len(settings)
