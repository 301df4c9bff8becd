"""Figures: the lecture's curves keep their axis; a negative control gets a panel of its own."""

import matplotlib.pyplot as plt
import pytest

from reproduce import report
from reproduce.training.config import RunConfig
from reproduce.training.results import History, RunResult

# Accuracy per epoch, shaped like the lecture-scale measurements: the three lecture losses at
# 91-97 %, NLL on raw scores near chance.
ACCURACY = {
    "ce": [91.4, 95.0, 97.1],
    "nll": [91.5, 95.1, 97.0],
    "multimargin": [91.7, 94.8, 97.2],
    "nll_raw": [11.4, 11.2, 11.3],
}


def classification_runs(losses, seeds=(0, 1)):
    config = RunConfig.at_scale("classification", "smoke", losses=losses)
    return [
        RunResult(
            config=RunConfig.from_dict(config.to_dict() | {"seed": seed}),
            histories={
                loss: History(
                    untrained={"accuracy": 10.0},
                    train_loss=[1.0, 0.5, 0.25],
                    metrics={"accuracy": [a + 0.1 * seed for a in ACCURACY[loss]]},
                )
                for loss in losses
            },
            environment={},
            seconds=1.0,
        )
        for seed in seeds
    ]


@pytest.fixture
def accuracy_figure():
    made = []

    def draw(losses):
        fig = report.draw(classification_runs(losses), ("accuracy",), "Test accuracy (%)")
        made.append(fig)
        return {tuple(line.get_label() for line in ax.get_lines()): ax for ax in fig.axes}

    yield draw
    for fig in made:
        plt.close(fig)


def test_the_control_gets_its_own_panel_and_the_lecture_curves_fill_theirs(accuracy_figure):
    panels = accuracy_figure(("ce", "nll", "multimargin", "nll_raw"))
    lecture = panels["Cross Entropy Loss", "Negative Log Likelihood Loss", "Multi Margin Loss"]
    control = panels[("NLL on raw scores (control)",)]
    assert len(panels) == 2
    low, high = lecture.get_ylim()
    assert 85 < low < 91.4 and 97.3 < high < 100  # 91-97 % fill the axis; ~11 % is off it
    low, high = control.get_ylim()
    assert low < 11.2 and 11.4 < high < 20
    assert "control" in control.get_title()


def test_without_a_control_there_is_one_panel(accuracy_figure):
    panels = accuracy_figure(("ce", "nll", "multimargin"))
    assert list(panels) == [("Cross Entropy Loss", "Negative Log Likelihood Loss", "Multi Margin Loss")]


def test_curves_keep_the_notebooks_order_after_a_json_round_trip(tmp_path):
    runs = classification_runs(("ce", "nll", "multimargin", "nll_raw"))
    runs[0].save(tmp_path / "run.json")  # JSON sorts the histories by name
    fig = report.draw([RunResult.load(tmp_path / "run.json")], ("accuracy",), "Test accuracy (%)")
    try:
        labels = [line.get_label() for line in fig.axes[0].get_lines()]
        colours = [line.get_color() for ax in fig.axes for line in ax.get_lines()]
    finally:
        plt.close(fig)
    assert labels == ["Cross Entropy Loss", "Negative Log Likelihood Loss", "Multi Margin Loss"]
    assert colours == ["C0", "C1", "C2", "C3"]


def test_figures_write_the_lectures_accuracy_figure(tmp_path):
    paths = report.figures(classification_runs(("ce", "nll", "multimargin", "nll_raw")), tmp_path)
    assert [p.name for p in paths] == ["classification-loss.png", "classification-accuracy.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
