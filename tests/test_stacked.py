"""The stacked schedule: the per-run schedule's training, one step for every net, ops that do not
grow with the nets. Its statistics at the study's scale: tests/test_tiers.py."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
from pathlib import Path

import pytest
import torch

from reproduce.training import capture, data, experiments, stacked, study
from reproduce.training.config import RunConfig
from reproduce.training.results import RunCache
from reproduce.training.train import Replica, TrainingDiverged, train_epoch, train_step

TINY = {"train_size": 600, "test_size": 200, "epochs": 2}  # 12 steps
# How far a stacked net's curves may be from the same net trained in its own run. Measured (seeds
# 0-4, every family, TINY, one thread, AMD EPYC AVX-512, torch 2.14.1), the largest difference
# over every loss, epoch and the untrained nets: train_loss rel 1.1e-7, ssim_lecture 4.4e-9,
# ssim 2.5e-10, mae 1.5e-10, accuracy 0 (batched matmuls sum in another order). The bounds are
# 90-4000x that; a net given another's init or batch order moves by 1e-3 and more.
TOLERANCE = {"train_loss": 1e-5, "ssim_lecture": 1e-6, "ssim": 1e-6, "mae": 1e-6, "accuracy": 0.5}


def tiny_study(seeds) -> list[RunConfig]:
    return study.study_configs(seeds, scale="smoke", recipe=TINY)


def differences(stacked_run, alone) -> dict[str, float]:
    """The largest difference per measure (relative for the training loss)."""
    worst = dict.fromkeys(TOLERANCE, 0.0)
    for loss, history in alone.histories.items():
        mine = stacked_run.histories[loss]
        for a, b in zip(mine.train_loss, history.train_loss):
            worst["train_loss"] = max(worst["train_loss"], abs(a - b) / abs(b))
        for measure, values in history.metrics.items():
            pairs = zip(
                [*mine.metrics[measure], mine.untrained[measure]], [*values, history.untrained[measure]]
            )
            worst[measure] = max(worst[measure], *(abs(a - b) for a, b in pairs))
    return worst


def test_a_stack_trains_every_net_as_its_own_run_does(data_dir):
    configs = tiny_study([0, 1])
    with torch.random.fork_rng(devices=[]):
        together = stacked.run(configs, data_dir)
    assert [r.config for r in together] == configs
    for config, result in zip(configs, together):
        assert result.environment["schedule"] == stacked.SCHEDULE
        worst = differences(result, experiments.run(config, data_dir))
        assert all(worst[m] <= TOLERANCE[m] for m in worst), (config.label(), worst)


def test_a_replay_in_the_stack_is_bit_identical(data_dir):
    """Claim A5's replay: the replicate run's nets equal the regression run's, bit for bit."""
    configs = study.study_configs([0], scale="smoke", families=("regression", "replicate"), recipe=TINY)
    regression, replicate = stacked.run(configs, data_dir)
    assert all(replicate.histories[loss] == regression.histories[loss] for loss in replicate.histories)


def load_floor():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "floor.py"
    spec = importlib.util.spec_from_file_location("floor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ops_dispatched_per_step_do_not_grow_with_the_seeds(data_dir):
    """The launch cost a GPU pays, counted on the CPU (benchmarks/floor.py): one seed's stack and
    three seeds' dispatch the same operations; the per-run schedule's grow with every net.
    Measured (smoke, torch 2.14.1): stacked 339 and 339, per run 698 and 1914 (1 and 3 seeds)."""
    count = load_floor().ops_per_study_step
    stacked_ops = [count(data_dir, seeds, "stacked", scale="smoke") for seeds in ([0], [0, 1, 2])]
    per_run_ops = [count(data_dir, seeds, "per-run", scale="smoke") for seeds in ([0], [0, 1, 2])]
    assert stacked_ops[0] == stacked_ops[1]
    assert per_run_ops[1] > 2 * per_run_ops[0] and stacked_ops[1] < per_run_ops[0]


def test_a_stack_is_cached_whole_and_serves_any_of_its_families(data_dir, tmp_path):
    cache = RunCache(tmp_path)

    def train(family: str) -> study.Study:
        return study.train_study(
            [0, 1],
            data_dir=data_dir,
            cache=cache,
            scale="smoke",
            families=(family,),
            recipe=TINY,
            schedule="stacked",
        )

    assert list(train("regression").runs) == ["regression"]
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    every = tiny_study([0, 1])
    assert folder.name.endswith(stacked.stack_id(every))
    written = {p: p.stat().st_mtime_ns for p in folder.glob("*.json")}
    assert len(written) == len(every)
    assert [r.config.seed for r in train("shared_init").runs["shared_init"]] == [0, 1]
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*.json")} == written  # nothing trained
    damaged = sorted(written)[0]
    damaged.write_text(damaged.read_text()[:100])  # a run cut short, as a full disk leaves it
    assert [r.config.seed for r in train("regression").runs["regression"]] == [0, 1]  # the stack again
    assert all(p.stat().st_mtime_ns != written[p] for p in written)


def test_a_stack_refuses_runs_of_another_recipe():
    configs = [RunConfig.at_scale("regression", "smoke"), RunConfig.at_scale("regression", "smoke", lr=2e-4)]
    with pytest.raises(ValueError, match=r"seed0 differs in lr"):
        stacked.Stack(configs)


def test_a_diverging_net_in_a_stack_is_named():
    nets = stacked.StackedNets([torch.nn.Linear(3, 2) for _ in range(3)], "cpu")

    def criterion(outputs, targets):  # the third net's loss turns NaN in the second batch
        losses = (outputs - targets).pow(2).mean((1, 2))
        return losses * torch.tensor([1.0, 1.0, float("nan") if criterion.calls else 1.0])

    criterion.calls = 0

    def batches():
        for _ in range(2):
            yield torch.ones(3, 4, 3), torch.zeros(3, 4, 2)
            criterion.calls += 1

    names = ("a", "b", "c")
    replica = Replica("stack", nets, torch.optim.Adam(nets.parameters()), criterion, names)
    with pytest.raises(TrainingDiverged, match=r"^c: loss became nan at epoch 1, batch 2"):
        train_epoch([replica], batches(), epoch=1)


class RecordedStep:
    """A CUDA graph's semantics, on the CPU: ``capture`` records the step without its effects (the
    nets and Adam's state are put back as they were), ``replay`` runs it again and writes its loss
    into the captured output, as a graph's replay rewrites the memory it captured."""

    def __init__(self, replica: Replica):
        self.replica, self.captures, self.replays = replica, 0, 0

    def warm_up(self, step):
        return step()

    def capture(self, step):
        self.captures += 1
        weights = [w.detach().clone() for w in self.replica.net.parameters()]
        adam = copy.deepcopy(self.replica.optimizer.state_dict())
        self.step, self.output = step, step()
        with torch.no_grad():
            for w, saved in zip(self.replica.net.parameters(), weights):
                w.copy_(saved)
        self.replica.optimizer.load_state_dict(adam)
        return self.output

    def replay(self):
        self.replays += 1
        self.output.copy_(self.step())


FIRST_ERROR = "CUDA error: operation not permitted when stream is capturing"


class CaptureRaises(RecordedStep):
    """A graph whose capture fails as a real one can inside ``torch.cuda.graph``: the step's own
    error, then another as the capture ends, which is the one that reaches the caller."""

    def capture(self, step):
        try:
            raise RuntimeError(f"{FIRST_ERROR}\nCUDA kernel errors might be asynchronously reported")
        finally:
            self.end_capture()

    def end_capture(self):
        raise RuntimeError("CUDA error: operation failed due to a previous error during capture")


def test_a_capture_that_raises_falls_back_to_the_eager_stacked_step_and_says_so(data_dir):
    configs = tiny_study([0, 1])
    said = rf"could not be captured as a CUDA graph \(RuntimeError: {FIRST_ERROR}\); training on with"
    with pytest.warns(capture.CaptureFailed, match=said) as warned:
        fallen = stacked.run(configs, data_dir, graph=lambda stack: CaptureRaises(stack.replica))
    assert len(warned) == 2  # once per stack: regression's and classification's
    eager = stacked.run(configs, data_dir)
    for config, result, expected in zip(configs, fallen, eager):
        assert result.environment["schedule"] == "stacked-eager", config.label()
        assert result.environment["capture_failed"] == f"RuntimeError: {FIRST_ERROR}"
        assert result.histories == expected.histories  # every step the eager one, bit for bit


def test_a_partial_last_batch_steps_eagerly_between_replays(data_dir):
    """The notebook's DataLoader keeps an epoch's partial last batch: 650 images are 6 batches of
    100 and one of 50. Captured, the tail steps eagerly: bit for bit the eager stack's training,
    and within the stacked tolerances of the per-run schedule's."""
    configs = study.study_configs([0, 1], scale="smoke", recipe=TINY | {"train_size": 650})
    graphs = []

    def recorded(stack):
        graphs.append(RecordedStep(stack.replica))
        return graphs[-1]

    captured, eager = stacked.run(configs, data_dir, graph=recorded), stacked.run(configs, data_dir)
    # 14 steps a stack: 3 warm-up, 2 tails, the 9 others replayed (the first right after capture)
    assert [(g.captures, g.replays) for g in graphs] == [(1, 9), (1, 9)]
    for config, result, expected in zip(configs, captured, eager):
        assert result.histories == expected.histories, config.label()
        worst = differences(result, experiments.run(config, data_dir))
        assert all(worst[m] <= TOLERANCE[m] for m in worst), (config.label(), worst)


def test_a_graph_on_another_card_warms_captures_and_replays_on_that_card(monkeypatch):
    """``--device cuda:1`` while cuda:0 is current (the CLI sets no device): every phase runs
    inside ``torch.cuda.device(1)``, the capture on a stream of card 1. Plays CUDA's calls."""
    current, seen = [0], []

    class Stream:
        def __init__(self):
            self.card = current[0]

        def wait_stream(self, other):
            assert other.card == self.card

    class Graph:
        def replay(self):
            seen.append(("replay", current[0]))

    @contextlib.contextmanager
    def device(card):
        before, current[0] = current[0], card.index if card.index is not None else current[0]
        yield
        current[0] = before

    @contextlib.contextmanager
    def on_stream(stream):
        seen.append(("warm-up", current[0], stream.card))
        yield

    @contextlib.contextmanager
    def graph(graph, stream):
        seen.append(("capture", current[0], stream.card))
        yield

    for name, fake in {
        "CUDAGraph": Graph,
        "Stream": Stream,
        "device": device,
        "stream": on_stream,
        "graph": graph,
        "current_stream": Stream,
    }.items():
        monkeypatch.setattr(torch.cuda, name, fake)
    on_card_1 = capture.CudaGraph("cuda:1")
    on_card_1.warm_up(lambda: None)
    on_card_1.capture(lambda: None)
    on_card_1.replay()
    assert seen == [("warm-up", 1, 1), ("capture", 1, 1), ("replay", 1)]
    assert current == [0]


@pytest.mark.parametrize("experiment", ["regression", "classification"])
def test_a_captured_step_trains_as_the_eager_step_does(experiment, device, data_dir):
    """CapturedStep (eager warm-up, static buffers, the loss copied out of the graph's output)
    against the eager step: the same losses and weights, bit for bit. On the CPU a stand-in
    plays the graph (its plumbing); the CUDA twin captures a real CUDA graph."""
    every = study.study_configs([0, 1], scale="smoke", device=device, recipe=TINY)
    configs = [c for c in every if c.experiment == experiment]
    with experiments.deterministic(device):
        train_x, train_y = data.load_split(
            "mnist", data_dir, train=True, size=TINY["train_size"], device=device
        )
        eager, graphed = stacked.Stack(configs), stacked.Stack(configs)
        captured = graphed.step if device != "cpu" else capture.CapturedStep(RecordedStep(graphed.replica))
        losses = {"eager": [], "graphed": []}
        for _ in range(2):  # epochs: the buffers outlive one
            losses["eager"] += [
                train_step(eager.replica.net, eager.replica.optimizer, eager.replica.criterion, *batch)
                for batch in eager.batches(train_x, train_y)
            ]
            losses["graphed"] += [
                captured(graphed.replica.net, graphed.replica.optimizer, graphed.replica.criterion, *batch)
                for batch in graphed.batches(train_x, train_y)
            ]
    assert isinstance(captured, capture.CapturedStep) and captured.loss is not None
    assert len(losses["graphed"]) == 12 > captured.WARMUP + 1
    assert all(torch.equal(a, b) for a, b in zip(losses["eager"], losses["graphed"]))
    assert all(
        torch.equal(a, b) for a, b in zip(eager.replica.net.parameters(), graphed.replica.net.parameters())
    )
