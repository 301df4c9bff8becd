"""Minibatches on the run's device (issue 12, defect 6): the permutation goes to the device once
per epoch, one gather serves an autoencoder's inputs and targets, and CPU numbers keep their bits."""

import pytest
import torch

from reproduce.training import data, experiments
from reproduce.training.config import RunConfig

TINY = {"train_size": 1000, "test_size": 200, "epochs": 2}


def indexed_on_the_cpu(config, train_x, train_y, order):
    """The batching before issue 12: CPU indices, one gather for inputs and one for targets."""
    train_t = train_x if config.experiment == "regression" else train_y
    for idx in torch.randperm(config.train_size, generator=order).split(config.batch_size):
        yield train_x[idx], train_t[idx]


@pytest.mark.parametrize("experiment", ["regression", "classification"])
def test_batches_on_the_device_give_the_cpu_runs_bits(data_dir, monkeypatch, experiment):
    config = RunConfig.at_scale(experiment, "smoke", **TINY)
    now = experiments.run(config, data_dir)
    monkeypatch.setattr(experiments, "epoch_batches", indexed_on_the_cpu)
    before = experiments.run(config, data_dir)
    assert now.histories == before.histories


@pytest.mark.parametrize("experiment", ["regression", "classification"])
def test_an_epoch_is_the_seeded_order_with_one_gather_for_an_autoencoders_targets(experiment):
    config = RunConfig.at_scale(experiment, "smoke", train_size=10, batch_size=4)
    train_x = torch.arange(10.0).repeat_interleave(3).view(10, 3)  # row i is i, i, i
    train_y = torch.arange(10)
    batches = list(experiments.epoch_batches(config, train_x, train_y, torch.Generator().manual_seed(5)))
    expected = data.batch_indices(10, 4, torch.Generator().manual_seed(5))
    assert [inputs[:, 0].long().tolist() for inputs, _ in batches] == [i.tolist() for i in expected]
    for inputs, targets in batches:
        if experiment == "regression":
            assert targets is inputs
        else:
            assert torch.equal(targets, inputs[:, 0].long())


def test_batch_indices_go_to_the_device_in_one_copy():
    batches = data.batch_indices(250, 100, torch.Generator().manual_seed(3), device="meta")
    assert [b.device.type for b in batches] == ["meta"] * 3
    assert len({id(b._base) for b in batches}) == 1  # views of one moved permutation
    on_cpu = data.batch_indices(250, 100, torch.Generator().manual_seed(3))
    assert [b.shape for b in batches] == [b.shape for b in on_cpu]
