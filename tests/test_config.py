import warnings

import pytest
import torch

from reproduce.training.config import LECTURE_LOSSES, SCALES, RunConfig, ScheduleFallback, schedule_for


def test_lecture_scale_is_the_notebooks_recipe():
    config = RunConfig.at_scale("classification")
    assert (config.train_size, config.test_size, config.epochs) == (60_000, 10_000, 10)
    assert (config.batch_size, config.lr) == (100, 1e-4)
    assert config.losses == LECTURE_LOSSES["classification"] == ("ce", "nll", "multimargin")


def test_smoke_scale_takes_its_sizes_from_the_table():
    config = RunConfig.at_scale("regression", "smoke", seed=4)
    assert config.epochs == SCALES["smoke"].epochs and config.seed == 4


def test_key_is_stable_and_tells_configs_apart():
    a, b = RunConfig.at_scale("regression"), RunConfig.at_scale("regression")
    assert a.key() == b.key() and len(a.key()) == 16
    assert a.key() != RunConfig.at_scale("regression", seed=1).key()


def test_round_trips_through_a_dict():
    config = RunConfig.at_scale("regression", "smoke", losses=("mse", "lp3"), shared_init=True)
    assert RunConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"epochs": -3}, ValueError, r"expected epochs >= 1, got -3"),
        ({"epochs": 0}, ValueError, r"expected epochs >= 1, got 0"),
        ({"batch_size": 0}, ValueError, r"expected batch_size >= 1"),
        ({"seed": -1}, ValueError, r"expected seed >= 0, got -1"),
        ({"epochs": 2.5}, TypeError, r"expected epochs to be an int, got 2.5"),
        ({"lr": 0.0}, ValueError, r"expected lr > 0"),
        ({"fused_adam": "no"}, TypeError, r"expected fused_adam to be a bool, got 'no'"),
        ({"device": "gpu"}, ValueError, r"expected device 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
        ({"dataset": "cifar"}, ValueError, r"expected dataset in"),
        ({"losses": ("huber",)}, ValueError, r"unknown loss 'huber'; expected one of mse"),
        ({"losses": ("ce",)}, ValueError, r"loss 'ce' is a classification loss"),
        ({"losses": ("mse", "mse")}, ValueError, r"expected distinct losses"),
        ({"losses": ()}, ValueError, r"expected at least one loss"),
        ({"epoch": 3}, TypeError, r"unknown RunConfig field\(s\) epoch"),
    ],
)
def test_bad_fields_name_the_problem(overrides, error, match):
    with pytest.raises(error, match=match):
        RunConfig.at_scale("regression", **overrides)


def test_unknown_experiment_and_scale():
    with pytest.raises(ValueError, match=r"expected experiment in \('regression', 'classification'\)"):
        RunConfig.at_scale("segmentation", losses=("mse",))
    with pytest.raises(ValueError, match=r"expected scale in \['lecture', 'smoke'\], got 'huge'"):
        RunConfig.at_scale("regression", "huge")


@pytest.mark.parametrize(
    ("version", "asked", "on", "expected"),
    [
        ("2.14.1+cu130", None, "cuda", "stacked"),
        ("2.14.1+cu130", None, "cpu", "per-run"),
        ("2.13.0", "stacked", "cpu", "stacked"),
        ("2.12.1", None, "cpu", "per-run"),
    ],
)
def test_the_schedule_is_the_asked_one_or_the_devices(monkeypatch, version, asked, on, expected):
    monkeypatch.setattr(torch, "__version__", version)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these is a fallback
        assert schedule_for(asked, on) == expected


@pytest.mark.parametrize("asked", [None, "stacked"])
def test_a_torch_below_the_floor_refuses_the_stacked_schedule(monkeypatch, asked):
    monkeypatch.setattr(torch, "__version__", "2.12.1")
    with pytest.warns(ScheduleFallback, match=r"^torch 2.12.1 is older than 2.13, .*; training per run$"):
        assert schedule_for(asked, "cuda:0") == "per-run"
    with pytest.raises(ValueError, match=r"expected schedule in \('per-run', 'stacked'\), got 'fast'"):
        schedule_for("fast", "cpu")
