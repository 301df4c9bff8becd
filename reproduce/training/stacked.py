"""The study on another schedule: the nets of every run stacked, one step for all of them.

The per-run schedule (``experiments.run``) steps a run's nets one after another, about forty
small kernels per net and step: on a GPU the card waits on their launches (issue 16: one H100
trained the lecture only 4-5x faster than one CPU core). Here every net of every run of one
experiment is one stack:

- parameters as ``[nets, ...]`` tensors (``torch.func.stack_module_state``), each net's slice
  drawn from its own run's seed exactly as the per-run schedule draws it
  (``experiments.initial_nets``);
- the network's own forward, vmapped over the stack (batched matmuls), each net on a minibatch
  gathered by its own run's batch order (``data.epoch_order``, seeded as ``experiments.run``);
- each loss once over the slice of nets trained with it (``LossSpec.stacked``);
- one Adam over the stacked parameters: its update is elementwise, so every net keeps its own
  moments, and with one learning rate and one step count it is each net's own Adam;
- the step is the trainer's ``train_step`` and the epoch its ``train_epoch``: one trainer, on
  another schedule. On CUDA the step is captured once as a CUDA graph and replayed
  (``capture.CapturedStep``): eagerly, its ~340 operations cost several milliseconds of Python and
  dispatch a step, more than the card's compute.

The operations dispatched per step do not grow with the number of nets (339 for 1 seed and for 5
at lecture scale; the per-run schedule's 698 and 3130: ``benchmarks/floor.py``). The numbers are
not the per-run schedule's bits (batched matmuls and per-net reductions sum in another order), so
a stacked run is cached apart, under its stack, and ``tests/test_tiers.py`` judges it against the
per-run reference with the distribution tier.
A stack is deterministic as a whole; whether one net's bits depend on the others in its stack
is the kernels' business, so the cache keys every run by the whole stack it was trained in.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import time
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn
from tqdm.auto import tqdm

from reproduce.training import data, devices, experiments
from reproduce.training.capture import CapturedStep, CudaGraph
from reproduce.training.config import RunConfig
from reproduce.training.losses import get_loss
from reproduce.training.results import History, RunResult, environment
from reproduce.training.train import Replica, train_epoch, train_step

SCHEDULE = "stacked"  # results.environment's "schedule" for a stacked run; absent: one run at a time
# The fields every run of a stack shares (the experiment, what it trains on, the recipe): every
# RunConfig field but those each net has of its own.
SHARED_FIELDS = tuple(
    f.name for f in dataclasses.fields(RunConfig) if f.name not in ("seed", "losses", "shared_init")
)
EVALUATION_CHUNK = 8  # nets whose test-set outputs are held at once (8 x 10000 x 784 floats: 250 MB)


class StackedNets(nn.Module):
    """Copies of one network as stacked parameters; ``forward`` runs all of them at once.

    inputs: ``[nets, batch, features]`` (each net its own minibatch) or ``[batch, features]``
    (one batch for every net: the test set). ``nets`` selects a slice of the stack.
    """

    def __init__(self, nets: Sequence[nn.Module], device: str):
        super().__init__()
        stacked, _ = torch.func.stack_module_state(list(nets))  # the lecture's nets have no buffers
        self.names = list(stacked)
        self.weights = nn.ParameterList(nn.Parameter(stacked[name].to(device)) for name in self.names)
        # The network's code, for functional_call; its own weights (on meta) are never used.
        self._network = partial(torch.func.functional_call, _on_meta(nets[0]))

    def forward(self, inputs: torch.Tensor, nets: slice | None = None) -> torch.Tensor:
        weights = self.weights if nets is None else [w[nets] for w in self.weights]
        params = dict(zip(self.names, weights))
        per_net_input = 0 if inputs.dim() == 3 else None
        return torch.func.vmap(self._one, in_dims=(0, per_net_input))(params, inputs)

    def _one(self, params: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
        return self._network(params, (inputs,))

    def __len__(self) -> int:
        return len(self.weights[0])


def _on_meta(net: nn.Module) -> nn.Module:
    return copy.deepcopy(net).to("meta")


class StackedCriterion:
    """Each loss once over its slice of the stack: ``[nets, batch, ...]`` -> one loss per net.

    The nets come grouped by loss; one ``split`` (and one ``cat`` in backward) serves them all.
    """

    def __init__(self, losses: Sequence[str]):
        groups = [(name, len(list(run))) for name, run in itertools.groupby(losses)]
        if len({name for name, _ in groups}) != len(groups):
            raise ValueError(f"expected the stack's nets grouped by loss, got {list(losses)}")
        self.losses = [get_loss(name).stacked() for name, _ in groups]
        self.sizes = [size for _, size in groups]

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        slices = zip(self.losses, outputs.split(self.sizes), targets.split(self.sizes))
        return torch.cat([loss(out, target) for loss, out, target in slices])


def stack_id(configs: Sequence[RunConfig]) -> str:
    """A stack's name in the run cache: a hash of every run in it."""
    keys = sorted(c.key() for c in configs)
    return f"{SCHEDULE}-{hashlib.sha256(' '.join(keys).encode()).hexdigest()[:12]}"


def run(configs: Sequence[RunConfig], data_dir, *, progress: bool = False, graph=None) -> list[RunResult]:
    """Every run in ``configs`` trained in stacks, one per experiment; results in ``configs``' order.

    A CUDA out-of-memory error becomes a :class:`devices.DeviceError` naming the stack.
    ``graph``: as :class:`Stack` takes it.
    """
    results = {}
    for experiment in dict.fromkeys(c.experiment for c in configs):
        runs = [c for c in configs if c.experiment == experiment]
        try:
            results |= dict(zip(runs, _run_stack(runs, data_dir, progress=progress, graph=graph)))
        except torch.cuda.OutOfMemoryError as error:
            where = (
                f"a stack of {len(runs)} {experiment} runs (fewer --seeds or --schedule per-run need less)"
            )
            raise devices.DeviceError(devices.out_of_memory(where, runs[0].device)) from error
    return [results[c] for c in configs]


class Stack:
    """One experiment's runs as one stack: the trainer's replica, its step (captured as a CUDA
    graph on a GPU) and each net's batch order.

    ``graph``: makes, from the stack, the graph a :class:`CapturedStep` captures into (default:
    a :class:`CudaGraph` on CUDA, none on the CPU, where the step is the eager one); a test's
    stand-in plays it on the CPU.
    """

    def __init__(self, configs: Sequence[RunConfig], graph: Callable[[Stack], object] | None = None):
        first = self.config = configs[0]
        for config in configs[1:]:
            differ = [f for f in SHARED_FIELDS if getattr(config, f) != getattr(first, f)]
            if differ:
                raise ValueError(
                    f"expected one experiment and recipe in a stack; {config.label()} differs in "
                    f"{', '.join(differ)}"
                )
        self.configs = list(configs)
        self.members = grouped_by_loss(configs)
        initial = {c: dict(zip(c.losses, experiments.initial_nets(c))) for c in configs}
        nets = StackedNets([initial[c][loss] for c, loss in self.members], first.device)
        cuda = devices.is_cuda(first.device)
        self.replica = Replica(
            first.experiment,
            nets,
            # capturable: Adam's step count on the card, so that a graph's replays advance it
            torch.optim.Adam(nets.parameters(), lr=first.lr, fused=first.fused_adam, capturable=cuda),
            StackedCriterion([loss for _, loss in self.members]),
            tuple(_label(c, loss) for c, loss in self.members),
        )
        graph = graph or (_cuda_graph if cuda else None)
        self.step = CapturedStep(graph(self)) if graph else train_step
        self._run_of_net = torch.tensor([self.configs.index(c) for c, _ in self.members], device=first.device)
        self._orders = [
            torch.Generator().manual_seed(c.seed + experiments.BATCH_ORDER_SEED_OFFSET) for c in configs
        ]

    def schedule(self) -> dict[str, str]:
        """How the stack trained, for its runs' environment: ``stacked``, or ``stacked-eager``
        with the capture's error where a CUDA graph could not be captured."""
        failure = getattr(self.step, "failure", None)
        if failure is None:
            return {"schedule": SCHEDULE}
        return {"schedule": f"{SCHEDULE}-eager", "capture_failed": failure}

    def batches(self, train_x, train_y):
        """One epoch: each net's minibatches in its run's order, ``[nets, batch, ...]`` each."""
        config = self.config
        orders = torch.stack([data.epoch_order(config.train_size, g, config.device) for g in self._orders])
        for idx in orders[self._run_of_net].split(config.batch_size, dim=1):
            yield experiments.minibatch(config.experiment, idx, train_x, train_y)

    @torch.no_grad()
    def measure(self, images, labels) -> list[dict[str, float]]:
        """Every net's test measures (experiments.measure_nets), a few nets' outputs at a time,
        copied to the host once."""
        nets = self.replica.net
        nets.eval()
        starts = range(0, len(nets), EVALUATION_CHUNK)
        chunks = [
            experiments.measure_nets(
                self.config.experiment, nets(images, slice(i, i + EVALUATION_CHUNK)), images, labels
            )
            for i in starts
        ]
        names = list(chunks[0])
        table = torch.stack([torch.cat([chunk[name] for chunk in chunks]) for name in names], 1)
        return [dict(zip(names, row)) for row in table.tolist()]


def _cuda_graph(stack: Stack) -> CudaGraph:
    return CudaGraph(stack.config.device)


def _run_stack(configs: Sequence[RunConfig], data_dir, *, progress: bool, graph) -> list[RunResult]:
    started = time.perf_counter()
    first = configs[0]
    with experiments.deterministic(first.device):
        train_x, train_y = data.load_split(
            first.dataset, data_dir, train=True, size=first.train_size, device=first.device
        )
        test_x, test_y = data.load_split(
            first.dataset, data_dir, train=False, size=first.test_size, device=first.device
        )
        stack = Stack(configs, graph)
        # Net i of the stack is stack.members[i]: its history is histories[i].
        histories = [History(untrained=measured) for measured in stack.measure(test_x, test_y)]
        bar = tqdm(
            total=first.epochs * -(-first.train_size // first.batch_size),
            desc=f"{first.experiment} stack of {len(histories)} nets",
            unit="batch",
            disable=not progress,
            leave=False,
        )
        with bar:
            for epoch in range(1, first.epochs + 1):
                batches = stack.batches(train_x, train_y)
                losses = train_epoch(
                    [stack.replica], batches, epoch=epoch, progress=bar.update, step=stack.step
                )
                for history, name, measured in zip(
                    histories, stack.replica.members, stack.measure(test_x, test_y)
                ):
                    history.record(losses[name], measured)
        env = environment(first.device) | stack.schedule()
    seconds = time.perf_counter() - started  # the whole stack's: its runs train together
    return [
        RunResult(
            config=c,
            histories={loss: histories[stack.members.index((c, loss))] for loss in c.losses},
            environment=env,
            seconds=seconds,
        )
        for c in configs
    ]


def grouped_by_loss(configs: Sequence[RunConfig]) -> list[tuple[RunConfig, str]]:
    """A stack's nets, as (run, loss): grouped by loss, so that each loss is computed once over its
    slice (:class:`StackedCriterion`), and in the runs' order within a group."""
    losses = dict.fromkeys(loss for c in configs for loss in c.losses)
    return [(c, loss) for loss in losses for c in configs if loss in c.losses]


def _label(config: RunConfig, loss: str) -> str:
    """A net's name in messages (a NaN names it); a run's losses tell a replay from its original."""
    return f"{config.label()} ({' '.join(config.losses)}) {loss}"
