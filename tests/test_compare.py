"""``reproduce compare``: a drift report between two result sets, and its exit code."""

from __future__ import annotations

import json

from test_claim_checks import synthetic_study

from reproduce import cli
from reproduce.claims import BY_ID
from reproduce.study import family_of


def save(study, folder):
    for result in study.results:
        result.save(folder / "runs" / family_of(result.config) / f"{result.config.label()}.json")
    return folder


def test_the_same_training_reports_no_change(tmp_path, capsys):
    baseline, results = save(synthetic_study(), tmp_path / "a"), save(synthetic_study(), tmp_path / "b")
    assert cli.main(["compare", str(baseline), str(results), "--out", str(tmp_path / "drift")]) == 0
    report = json.loads((tmp_path / "drift" / "drift.json").read_text())
    assert all(c["baseline"] == c["results"] for c in report["claims"]) and len(report["claims"]) == 15
    assert all(not f["significant"] for f in report["families"].values())
    assert "Significant change: **no**" in (tmp_path / "drift" / "drift.md").read_text()


def test_a_regression_names_the_flipped_claim_and_the_shifted_curve(tmp_path):
    shifted = synthetic_study()
    BY_ID["B2"].violate(shifted)  # every classifier's accuracy flat at 90 %
    baseline, results = save(synthetic_study(), tmp_path / "a"), save(shifted, tmp_path / "b")
    assert cli.main(["compare", str(baseline), str(results), "--out", str(tmp_path / "drift")]) == 1
    report = json.loads((tmp_path / "drift" / "drift.json").read_text())
    flipped = [c["claim"] for c in report["claims"] if c["baseline"] != c["results"]]
    assert "B2-accuracy-91-to-97" in flipped
    # 3 reference seeds (df = 2) leave the t test little power; the shift itself is reported.
    assert report["families"]["classification"]["largest_shift_in_sds"]["ce/accuracy"] < -20
    assert "**(changed)**" in (tmp_path / "drift" / "drift.md").read_text()


def test_a_folder_without_runs_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = cli.main(
        ["compare", str(tmp_path / "empty"), str(tmp_path / "empty"), "--out", str(tmp_path / "d")]
    )
    assert code == 2
    assert capsys.readouterr().err.count("\n") == 1
