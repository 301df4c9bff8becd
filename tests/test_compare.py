"""``reproduce compare``: a drift report between two result sets, and its exit code."""

from __future__ import annotations

import dataclasses
import json

from test_claim_checks import synthetic_study

from reproduce import cli
from reproduce.judging.claims import BY_ID
from reproduce.judging.compare import compare


def save(study, folder):
    for family, result in study.placed():
        result.save(folder / "runs" / family / f"{result.config.label()}.json")
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


def lecture_runs_only(study, keep=("mse", "l1")):
    """The regression runs with only ``keep``'s nets, as another tool would train them."""
    import dataclasses

    from reproduce.training.study import Study

    results = []
    for result in study.runs["regression"]:
        config = dataclasses.replace(result.config, losses=keep)
        results.append(type(result)(config, {k: result.histories[k] for k in keep}, result.environment, 0.0))
    return Study.of(results)


def test_nets_are_matched_not_families(tmp_path):
    """Results of the lecture's two autoencoders alone are judged against the baseline's same nets."""
    baseline = save(synthetic_study(), tmp_path / "a")
    results = save(lecture_runs_only(synthetic_study()), tmp_path / "b")
    assert cli.main(["compare", str(baseline), str(results), "--out", str(tmp_path / "drift")]) == 0
    report = json.loads((tmp_path / "drift" / "drift.json").read_text())
    assert list(report["families"]) == ["regression"]
    assert report["curves_judged"] == 2 * 5  # train_loss, ssim, mae, untrained ssim and mae per net
    assert {c.split("/")[0] for c in report["families"]["regression"]["largest_shift_in_sds"]} == {
        "mse",
        "l1",
    }
    assert "10 curves judged" in (tmp_path / "drift" / "drift.md").read_text()


def test_a_comparison_that_judges_no_curve_is_refused_naming_what_did_not_match(tmp_path, capsys):
    baseline = synthetic_study()
    del baseline.runs["regression"]
    baseline.replays.clear()
    code = cli.main(
        [
            "compare",
            str(save(baseline, tmp_path / "a")),
            str(save(lecture_runs_only(synthetic_study()), tmp_path / "b")),
            "--out",
            str(tmp_path / "drift"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no curve could be judged: regression nets l1 mse: the reference has no regression runs" in err
    assert "the results hold regression nets l1 mse, seeds 0 1 2" in err
    assert not (tmp_path / "drift").exists()


def test_a_one_seed_baseline_family_is_named_not_silently_skipped(tmp_path):
    baseline = synthetic_study()
    baseline.runs["shared_init"] = baseline.runs["shared_init"][:1]
    report = compare(baseline, synthetic_study())
    assert "shared_init" not in report["families"]
    assert report["not_judged"] == [
        "shared_init nets ce nll: the reference has 1 seed, no spread to judge by"
    ]


def results_document(study) -> dict:
    """The study's runs in the lecture22-results format, as a course's notebook writes them."""
    return {
        "format": "lecture22-results",
        "version": 1,
        "notebook": "course.ipynb",
        "recipe": {"dataset": "mnist", "train_size": 60000, "test_size": 10000, "epochs": 10,
                   "batch_size": 100, "lr": 1e-4},
        "runs": [
            {"experiment": r.config.experiment, "seed": r.config.seed, "losses": list(r.config.losses),
             "shared_init": r.config.shared_init,
             "histories": {k: dataclasses.asdict(h) for k, h in r.histories.items()}}
            for r in lecture_runs_only(synthetic_study()).results
        ],
    }  # fmt: skip


def test_a_course_notebooks_results_compare_against_a_baseline(tmp_path):
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "lecture22-results.json").write_text(
        json.dumps(results_document(synthetic_study()))
    )
    baseline = save(synthetic_study(), tmp_path / "a")
    assert (
        cli.main(["compare", str(baseline), str(tmp_path / "course"), "--out", str(tmp_path / "drift")]) == 0
    )
    assert json.loads((tmp_path / "drift" / "drift.json").read_text())["curves_judged"] == 2 * 5


def test_a_file_that_is_no_run_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.json").write_text('{"foo": 1}')
    baseline = save(synthetic_study(), tmp_path / "a")
    assert cli.main(["compare", str(baseline), str(tmp_path / "other"), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other/notes.json: neither a run JSON" in err


def test_another_scale_is_refused_not_compared(tmp_path, capsys):
    baseline = save(synthetic_study("lecture"), tmp_path / "a")
    results = save(synthetic_study("smoke"), tmp_path / "b")
    assert cli.main(["compare", str(baseline), str(results), "--out", str(tmp_path / "d")]) == 2
    assert (
        "the baseline is mnist at lecture scale, the results mnist at smoke scale" in capsys.readouterr().err
    )
