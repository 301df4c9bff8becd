"""The trainer: the notebook's step, per-epoch means, and a clear stop on NaN/inf."""

import pytest
import torch
from torch import nn

from reproduce.training.losses import get_loss
from reproduce.training.models import Classifier
from reproduce.training.train import Replica, TrainingDiverged, train_epoch, train_step


def replica(name="ce", seed=0):
    torch.manual_seed(seed)
    net = Classifier()
    return Replica(name, net, torch.optim.Adam(net.parameters(), lr=1e-4), get_loss("ce").criterion())


def batches(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(10, 784, generator=g), torch.randint(0, 10, (10,), generator=g)) for _ in range(n)]


def test_train_step_is_one_adam_step_on_the_criterion():
    r = replica()
    before = [p.clone() for p in r.net.parameters()]
    x, y = batches(1)[0]
    with torch.no_grad():
        expected = r.criterion(r.net(x), y)
    loss = train_step(r.net, r.optimizer, r.criterion, x, y)
    assert torch.equal(loss, expected) and not loss.requires_grad
    assert all(not torch.equal(a, b) for a, b in zip(before, r.net.parameters()))


def test_epoch_loss_is_the_mean_over_minibatches_as_in_the_notebook():
    a, b = replica(seed=1), replica(seed=1)
    data = batches()
    means = train_epoch([a], data, epoch=1)
    losses = [train_step(b.net, b.optimizer, b.criterion, x, y).item() for x, y in data]
    assert means["ce"] == pytest.approx(sum(losses) / len(losses), rel=1e-12)


def test_every_replica_steps_on_every_batch_independently():
    alone, together, other = replica(seed=2), replica(seed=2), replica("other", seed=3)
    data = batches()
    solo = train_epoch([alone], data, epoch=1)
    duo = train_epoch([together, other], data, epoch=1)
    assert solo["ce"] == duo["ce"]  # a second replica does not disturb the first


class NaNAfter(nn.Module):
    """A criterion that turns NaN from its n-th call on."""

    def __init__(self, n):
        super().__init__()
        self.calls, self.n = 0, n

    def forward(self, output, target):
        self.calls += 1
        loss = nn.functional.cross_entropy(output, target)
        return loss * float("nan") if self.calls >= self.n else loss


def test_a_nan_loss_stops_training_naming_replica_epoch_and_batch():
    r = replica("nll")
    r.criterion = NaNAfter(7)
    train_epoch([r], batches(), epoch=1)  # calls 1-4 are finite
    with pytest.raises(
        TrainingDiverged, match=r"nll: loss became nan at epoch 2, batch 3; lower the learning rate"
    ):
        train_epoch([r], batches(), epoch=2)


def test_an_infinite_loss_is_caught_too():
    r = replica()
    r.criterion = lambda output, target: output.sum() * float("inf")
    with pytest.raises(TrainingDiverged, match=r"ce: loss became (inf|-inf|nan) at epoch 5, batch 1"):
        train_epoch([r], batches(2), epoch=5)
