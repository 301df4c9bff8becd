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
    """One step of the notebook's ``Train()``; returns the minibatch loss, detached.

    ``net`` may be a stack of nets (reproduce.training.stacked) whose criterion gives one loss per net:
    they share no parameter, so the sum's gradient is each net's own loss's gradient.
    """
    net.train()
    optimizer.zero_grad()
    loss = criterion(net(inputs), targets)
    loss.sum().backward()  # a single net's loss: the sum is the loss itself, bit for bit
    optimizer.step()
    return loss.detach()


@dataclass
class Replica:
    """One of the lecture's net1, net2, ...: a network, its own optimiser and its cost.

    ``members``: a stack's nets, in order, where ``net`` is a stack whose criterion gives one
    loss per net (reproduce.training.stacked); empty for one net, named ``name``.
    """

    name: str
    net: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: nn.Module
    members: tuple[str, ...] = ()


def train_epoch(
    replicas: Sequence[Replica],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    epoch: int,
    progress: Callable[[], None] | None = None,
    step: Callable[..., torch.Tensor] = train_step,
) -> dict[str, float]:
    """Step every replica on each (inputs, targets) batch; mean training loss per replica (per
    member, for a stack). ``step``: :func:`train_step`, or the same step replayed from a CUDA
    graph (reproduce.training.capture.CapturedStep).

    Raises :class:`TrainingDiverged` naming the first non-finite batch (1-based epoch and batch).
    """
    losses: dict[str, list[torch.Tensor]] = {r.name: [] for r in replicas}
    for inputs, targets in batches:
        for r in replicas:
            losses[r.name].append(step(r.net, r.optimizer, r.criterion, inputs, targets))
        if progress is not None:
            progress()
    means = {}
    for r in replicas:
        per_batch = torch.stack(losses[r.name])  # [batches], or [batches, members] for a stack
        names = r.members or (r.name,)
        table = per_batch.view(len(per_batch), len(names))
        bad = (~torch.isfinite(table)).nonzero()
        if len(bad):
            batch, member = (int(i) for i in bad[0])
            raise TrainingDiverged(
                f"{names[member]}: loss became {table[batch, member].item()} at epoch {epoch}, "
                f"batch {batch + 1}; lower the learning rate or check the inputs"
            )
        if r.members:
            means |= dict(zip(r.members, per_batch.double().mean(0).tolist()))
        else:
            means[r.name] = per_batch.double().mean().item()  # the notebook's running_loss/(i+1)
    return means
