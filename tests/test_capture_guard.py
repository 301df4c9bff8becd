"""The stacked step is capture-safe, proved on the CPU (issue 25): run as CapturedStep captures
and replays it, under reproduce.training.capture_guard.CaptureGuard, every op a CUDA graph could not
capture fails, naming the op and the line; the replay path's steady state syncs the host 0 times.

The graph is test_stacked's stand-in (RecordedStep: capture records the step without its
effects, replay runs it again), with the step run under the guard at capture and every replay.
Both experiments' stacks hold every loss kind: mse, l1 and the Lp nets (LpFunction's custom
backward); CE, NLL, MultiMargin and NLL on raw scores, with the shared-init runs.
"""

from __future__ import annotations

import pytest
import torch
from test_stacked import TINY, RecordedStep

from reproduce.training import capture, data, experiments, stacked, study
from reproduce.training.capture_guard import CaptureGuard, CaptureIllegal

STEADY_STEPS = 3  # replays measured after the capture


class GuardedGraph(RecordedStep):
    """The stand-in graph, with the captured step run under a strict CaptureGuard each time."""

    def capture(self, step):
        def guarded():
            with CaptureGuard() as guard:
                output = step()
            self.guards.append(guard)
            return output

        self.guards = []
        return super().capture(guarded)


def captured_stack(experiment: str, data_dir, criterion=None):
    """A tiny stack of the experiment's runs (seeds 0 1), its CapturedStep, the stand-in graph
    and two epochs' batches (6 each)."""
    every = study.study_configs([0, 1], scale="smoke", recipe=TINY)
    stack = stacked.Stack([c for c in every if c.experiment == experiment], graph=guarded_graph)
    if criterion is not None:
        stack.replica.criterion = criterion(stack.replica.criterion)
    train_x, train_y = data.load_split("mnist", data_dir, train=True, size=TINY["train_size"])
    two_epochs = [*stack.batches(train_x, train_y), *stack.batches(train_x, train_y)]
    return stack, stack.step, stack.step.graph, two_epochs


def guarded_graph(stack: stacked.Stack) -> GuardedGraph:
    return GuardedGraph(stack.replica)


def step_of(stack, captured, batch):
    r = stack.replica
    return captured(r.net, r.optimizer, r.criterion, *batch)


@pytest.mark.parametrize("experiment", ["regression", "classification"])
def test_the_stacked_step_is_capture_safe_and_its_replays_never_sync(experiment, data_dir):
    with experiments.deterministic("cpu"):
        stack, captured, graph, batches = captured_stack(experiment, data_dir)
        warm_up, capture, steady = (
            batches[: captured.WARMUP],
            batches[captured.WARMUP],
            batches[captured.WARMUP + 1 :],
        )
        for batch in [*warm_up, capture]:
            step_of(stack, captured, batch)
        counts = []
        for batch in steady[:STEADY_STEPS]:
            with CaptureGuard(strict=False) as guard:
                step_of(stack, captured, batch)
            counts.append(guard)
    losses = {loss for _, loss in stack.members}
    expected = {
        "regression": {"mse", "l1", "lp3", "lp4", "lp5"},
        "classification": {"ce", "nll", "multimargin", "nll_raw"},
    }
    assert losses == expected[experiment]
    # The capture, the replay that steps its own batch, then every steady replay: all clean.
    assert len(graph.guards) == 2 + STEADY_STEPS
    assert sum(graph.guards[0].ops.values()) > 100  # the whole step ran under it (339 ops at lecture scale)
    assert [(g.syncs, g.illegal) for g in counts] == [(0, [])] * STEADY_STEPS


def test_an_injected_item_in_the_step_is_caught_naming_the_op_and_the_line(data_dir):
    def peeking(criterion):
        def criterion_that_syncs(outputs, targets):
            loss = criterion(outputs, targets)
            loss.sum().item()  # the injected sync
            return loss

        return criterion_that_syncs

    caught = r"_local_scalar_dense .*sync.*tests/test_capture_guard.py:\d+ \(loss.sum\(\).item\(\)"
    with experiments.deterministic("cpu"):
        stack, captured, _, batches = captured_stack("classification", data_dir, peeking)
        for batch in batches[: captured.WARMUP]:  # eager warm-up steps may sync: not captured
            step_of(stack, captured, batch)
        # The guard fails the capture; the step falls back to the eager one, saying why.
        with pytest.warns(capture.CaptureFailed, match=rf"\(CaptureIllegal: aten::{caught}"):
            step_of(stack, captured, batches[captured.WARMUP])
    assert captured.phase == "eager"
    assert stack.schedule() == {"schedule": "stacked-eager", "capture_failed": captured.failure}
    with pytest.raises(CaptureIllegal, match=caught), CaptureGuard():  # the guard alone, on the step
        step_of(stack, stacked.train_step, batches[captured.WARMUP + 1])


@pytest.mark.parametrize(
    ("make", "op"),
    [
        (lambda x: x.nonzero(), "nonzero"),
        (lambda x: torch.randn(3), "randn"),
        (lambda x: x + torch.tensor([1.0]), "lift_fresh"),
        (lambda x: bool(x.sum() > 0), "_local_scalar_dense"),
    ],
    ids=["data-dependent shape", "a random draw", "host data", "bool of a tensor"],
)
def test_each_kind_of_illegal_op_is_named(make, op):
    with pytest.raises(CaptureIllegal, match=rf"aten::{op}\b"), CaptureGuard():
        make(torch.ones(4))
