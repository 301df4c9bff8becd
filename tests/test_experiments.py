"""The experiments: deterministic per seed, distinct across seeds, measured every epoch."""

import pytest
import torch

from reproduce.training import experiments
from reproduce.training.config import RunConfig

TINY = {"train_size": 1000, "test_size": 200, "epochs": 2}


def run(data_dir, experiment, device="cpu", **overrides):
    config = RunConfig.at_scale(experiment, "smoke", device=device, **(TINY | overrides))
    return experiments.run(config, data_dir)


@pytest.mark.parametrize("experiment", ["regression", "classification"])
def test_same_config_and_seed_give_bit_identical_histories(data_dir, device, experiment):
    assert run(data_dir, experiment, device).histories == run(data_dir, experiment, device).histories


def test_different_seeds_give_different_inits(data_dir):
    a, b = run(data_dir, "classification", seed=0), run(data_dir, "classification", seed=1)
    assert a.histories["ce"].untrained != b.histories["ce"].untrained
    assert a.histories["ce"].train_loss != b.histories["ce"].train_loss


def test_replicas_in_one_run_have_their_own_inits(data_dir):
    result = run(data_dir, "regression")
    assert result.histories["mse"].untrained != result.histories["l1"].untrained


def test_shared_init_starts_every_replica_from_the_first(data_dir):
    result = run(data_dir, "classification", losses=("ce", "nll"), shared_init=True)
    assert result.histories["ce"].untrained == result.histories["nll"].untrained
    alone = run(data_dir, "classification", losses=("ce",))
    assert result.histories["ce"] == alone.histories["ce"]  # inits are drawn in order


def test_regression_records_every_measure_each_epoch(data_dir):
    result = run(data_dir, "regression", epochs=3)
    for history in result.histories.values():
        assert len(history.train_loss) == 3
        assert set(history.metrics) == {"ssim", "ssim_lecture", "mae"}
        assert all(len(v) == 3 for v in history.metrics.values())
        assert history.untrained["ssim"] < history.metrics["ssim"][-1]


def test_classification_records_accuracy_in_percent(data_dir):
    result = run(data_dir, "classification")
    accuracy = result.histories["ce"].metrics["accuracy"]
    assert len(accuracy) == 2 and all(0 <= a <= 100 for a in accuracy)
    assert result.environment["torch"] == torch.__version__


def test_build_replicas_leaves_the_global_rng_alone():
    before = torch.get_rng_state()
    experiments.build_replicas(RunConfig.at_scale("classification", "smoke"))
    assert torch.equal(before, torch.get_rng_state())
