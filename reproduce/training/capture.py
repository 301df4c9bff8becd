"""The stacked step on a CUDA card, captured once as a CUDA graph and then replayed (issue 25).

:class:`CapturedStep` is the step a ``stacked.Stack`` trains with on CUDA, in explicit phases;
:class:`CudaGraph` is what it needs of CUDA (a test's stand-in plays it on the CPU);
:class:`CaptureFailed` says that a capture raised and the stack trains on eagerly.
``capture_guard`` checks on any device that the step keeps a graph's rules.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial

import torch

from reproduce.training.train import train_step


class CudaGraph:
    """What :class:`CapturedStep` needs of CUDA: warm up on a side stream, capture, replay, each
    on the stack's own card (``cuda:N`` need not be the current device: nothing else sets it)."""

    def __init__(self, device: str):
        self.device = torch.device(device)
        with torch.cuda.device(self.device):
            self.graph, self.side = torch.cuda.CUDAGraph(), torch.cuda.Stream()

    def warm_up(self, step: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.cuda.device(self.device):
            main = torch.cuda.current_stream()
            self.side.wait_stream(main)
            with torch.cuda.stream(self.side):  # lazy handles and workspaces are made here, not in the graph
                loss = step()
            main.wait_stream(self.side)
        return loss

    def capture(self, step: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Records ``step`` without running it; returns its output, which every replay rewrites."""
        with torch.cuda.device(self.device), torch.cuda.graph(self.graph, stream=self.side):
            return step()

    def replay(self) -> None:
        with torch.cuda.device(self.device):
            self.graph.replay()


class CaptureFailed(UserWarning):
    """The step could not be captured as a CUDA graph; the stack trains on eagerly."""


class CapturedStep:
    """``train.train_step`` captured once as a CUDA graph, then replayed for every minibatch.

    Eagerly, a stack's step is ~340 dispatched operations, and their Python and dispatch cost
    (vmap, autograd, one slice per loss) is several milliseconds a step on a CPU core, whatever
    the card: more than the card's compute for the whole study. A replay is one launch.

    Its phases, in order:

    1. ``warm-up``: the first ``WARMUP`` steps run eagerly through the graph's ``warm_up`` (real
       steps; Adam's state and cuBLAS's handles are made there);
    2. ``capture``: the next step is captured with static input and target buffers, of the first
       batch's shape;
    3. ``replay``: each later step copies its minibatch into the buffers and replays. A batch of
       another shape (the epoch's partial last batch, which the notebook's DataLoader keeps)
       steps eagerly, in any phase;
    4. ``eager``: where the capture raised, every step from then on is the eager one: said once
       as a :class:`CaptureFailed` warning, with the error's first line kept in ``failure``.

    ``graph``: a :class:`CudaGraph`, or a stand-in for a test on the CPU.
    """

    WARMUP = 3

    def __init__(self, graph):
        self.graph, self.phase, self.warmed = graph, "warm-up", 0
        self.shape = self.inputs = self.targets = self.loss = self.failure = None

    def __call__(
        self, net, optimizer, criterion, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        def step(inputs=inputs, targets=targets):
            return train_step(net, optimizer, criterion, inputs, targets)

        if self.phase == "warm-up":
            self.shape, self.warmed = self.shape or inputs.shape, self.warmed + 1
            self.phase = "capture" if self.warmed == self.WARMUP else "warm-up"
            return self.graph.warm_up(step)
        if self.phase == "capture" and inputs.shape == self.shape:
            self._capture(step, inputs, targets)
        if self.phase != "replay" or inputs.shape != self.shape:
            return step()
        self.inputs.copy_(inputs)
        if self.targets is not self.inputs:
            self.targets.copy_(targets)
        self.graph.replay()
        return self.loss.clone()  # the next replay rewrites self.loss

    def _capture(self, step, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.inputs = inputs.clone()
        self.targets = self.inputs if targets is inputs else targets.clone()  # an autoencoder's
        try:
            self.loss = self.graph.capture(partial(step, self.inputs, self.targets))
        except Exception as error:  # whatever failed, the eager step still trains: said, recorded
            self.phase, self.failure, self.graph = "eager", first_failure(error), None
            warnings.warn(
                f"the training step could not be captured as a CUDA graph ({self.failure}); "
                "training on with the eager stacked step",
                CaptureFailed,
                stacklevel=3,
            )
            return
        self.phase = "replay"


def first_failure(error: BaseException) -> str:
    """The first line of the error a chain began with: a capture that fails inside
    ``torch.cuda.graph`` raises again as the capture ends, hiding the first cause."""
    while error.__cause__ or error.__context__:
        error = error.__cause__ or error.__context__
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
