"""The lecture's trainer: one function that steps any net with any optimiser and criterion.

As in the notebook (05:16), the trainer is a function so that adding an 11th cost function is
one more call, not one more copy of the loop. :func:`train_epoch` steps every replica on every
minibatch, in order, and keeps the per-batch losses on the device (no sync per step); the NaN
check runs once per epoch and still names the first bad batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the replica, epoch and batch."""


def train_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    targets: torch.Tensor,
) -> torch.Tensor:
    """One step of the notebook's ``Train()``; returns the minibatch loss, detached."""
    net.train()
    optimizer.zero_grad()
    loss = criterion(net(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.detach()


@dataclass
class Replica:
    """One of the lecture's net1, net2, ...: a network, its own optimiser and its cost."""

    name: str
    net: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: nn.Module


def train_epoch(
    replicas: Sequence[Replica],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    epoch: int,
    progress: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Step every replica on each (inputs, targets) batch; mean training loss per replica.

    Raises :class:`TrainingDiverged` naming the first non-finite batch (1-based epoch and batch).
    """
    losses: dict[str, list[torch.Tensor]] = {r.name: [] for r in replicas}
    for inputs, targets in batches:
        for r in replicas:
            losses[r.name].append(train_step(r.net, r.optimizer, r.criterion, inputs, targets))
        if progress is not None:
            progress()
    means = {}
    for name, per_batch in losses.items():
        per_batch = torch.stack(per_batch)  # [batches]
        bad = (~torch.isfinite(per_batch)).nonzero()
        if len(bad):
            batch = int(bad[0]) + 1
            raise TrainingDiverged(
                f"{name}: loss became {per_batch[batch - 1].item()} at epoch {epoch}, "
                f"batch {batch}; lower the learning rate or check the inputs"
            )
        means[name] = per_batch.double().mean().item()  # the notebook's running_loss/(i+1)
    return means
