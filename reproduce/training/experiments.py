"""The lecture's two experiments: build the replicas, train them together, measure each epoch.

Regression (lecture 22a): autoencoders, one per loss; after each epoch the test set is
reconstructed and measured three ways:

- ``ssim_lecture``: the notebook's protocol, SSIM of the first test image only, skimage
  defaults, data_range 2.0 (what old ``compare_ssim`` used for float images);
- ``ssim``: the robust protocol, mean SSIM over the test set, data_range 1.0;
- ``mae``: mean absolute error over the test set, the lecture's second measure.

Classification (lecture 22b): classifiers, one per loss; ``accuracy`` on the test set.
Both also measure the untrained nets, the baseline for "far above an untrained net's".
"""

from __future__ import annotations

import contextlib
import math
import time

import torch
from tqdm.auto import tqdm

from reproduce.training import data, devices, metrics
from reproduce.training.config import RunConfig
from reproduce.training.losses import get_loss
from reproduce.training.models import NETWORKS
from reproduce.training.results import History, RunResult, environment
from reproduce.training.train import Replica, train_epoch

BATCH_ORDER_SEED_OFFSET = 1000  # batch order draws from seed + 1000, inits from seed


@contextlib.contextmanager
def deterministic(device: str):
    """Bit-reproducible kernels: CPU ones already are; CUDA needs deterministic algorithms.

    The cuBLAS workspace and fp32 matmuls were pinned when reproduce.training.devices was imported (CUDA
    reads them once per process); a CUDA run under other settings is refused here.
    """
    if not devices.is_cuda(device):
        yield
        return
    devices.check(device)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def initial_nets(config: RunConfig) -> list[torch.nn.Module]:
    """net1, net2, ... drawn in order from ``seed`` (each its own init), on the CPU.

    Inits are drawn on the CPU so a seed means the same weights on every device.
    """
    network = NETWORKS[config.experiment]
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG as it was
        torch.manual_seed(config.seed)
        nets = [network() for _ in config.losses]
    if config.shared_init:
        for net in nets[1:]:
            net.load_state_dict(nets[0].state_dict())
    return nets


def build_replicas(config: RunConfig) -> list[Replica]:
    """The run's nets (:func:`initial_nets`) on config.device, each with its Adam and its loss."""
    replicas = []
    for name, net in zip(config.losses, initial_nets(config)):
        net = net.to(config.device)
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, fused=config.fused_adam)
        replicas.append(Replica(name, net, optimizer, get_loss(name).criterion()))
    return replicas


def epoch_batches(config: RunConfig, train_x, train_y, order: torch.Generator):
    """One epoch's (inputs, targets) in the seeded order, with no host-device sync per batch.

    The permutation goes to the device once per epoch, so indexing never copies a CPU index
    to the GPU.
    """
    for idx in data.batch_indices(config.train_size, config.batch_size, order, device=config.device):
        yield minibatch(config.experiment, idx, train_x, train_y)


def minibatch(experiment: str, idx: torch.Tensor, train_x, train_y) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) at ``idx``, of any shape (a stack's is [nets, batch]): the
    autoencoder's targets are its inputs, one gather serving both."""
    inputs = train_x[idx]
    return inputs, (inputs if experiment == "regression" else train_y[idx])


@torch.no_grad()
def evaluate(config: RunConfig, net: torch.nn.Module, images, labels) -> dict[str, float]:
    """The experiment's test measures for one net (see the module docstring)."""
    net.eval()
    return measure(config.experiment, net(images), images, labels)


@torch.no_grad()
def measure(experiment: str, outputs, images, labels) -> dict[str, float]:
    """The test measures of one net's ``outputs`` on the test ``images`` (see the module docstring)."""
    measured = measure_nets(experiment, outputs[None], images, labels)
    return {name: values.item() for name, values in measured.items()}


@torch.no_grad()
def measure_nets(experiment: str, outputs, images, labels) -> dict[str, torch.Tensor]:
    """The test measures of many nets at once: ``outputs`` [nets, N, ...] -> one value per net,
    left on the device (a stack's evaluation copies them to the host once per epoch)."""
    if experiment == "classification":
        return {"accuracy": 100.0 * (outputs.argmax(-1) == labels).double().mean(-1)}
    side = math.isqrt(images.shape[-1])
    # [nets, N, H, W] and [N, H, W]: skimage computes in float64 too
    recon, images = outputs.double().unflatten(-1, (side, side)), images.double().unflatten(-1, (side, side))
    return {
        "ssim_lecture": metrics.ssim(recon[:, :1], images[:1], data_range=2.0)[:, 0],
        "ssim": metrics.ssim(recon, images, data_range=1.0).mean(-1),
        "mae": (recon - images).abs_().flatten(-3).mean(-1),  # in place: one temporary, not two
    }


def run(config: RunConfig, data_dir, *, progress: bool = False) -> RunResult:
    """Train config.losses' replicas for config.epochs and measure them after every epoch.

    A CUDA out-of-memory error becomes a :class:`devices.DeviceError` naming the run.
    """
    try:
        return _run(config, data_dir, progress=progress)
    except torch.cuda.OutOfMemoryError as error:
        raise devices.DeviceError(devices.out_of_memory(config.label(), config.device)) from error


def _run(config: RunConfig, data_dir, *, progress: bool) -> RunResult:
    started = time.perf_counter()
    with deterministic(config.device):  # first: it refuses a device it cannot run on
        train_x, train_y = data.load_split(
            config.dataset, data_dir, train=True, size=config.train_size, device=config.device
        )
        test_x, test_y = data.load_split(
            config.dataset, data_dir, train=False, size=config.test_size, device=config.device
        )
        replicas = build_replicas(config)
        histories = {r.name: History(untrained=evaluate(config, r.net, test_x, test_y)) for r in replicas}
        order = torch.Generator().manual_seed(config.seed + BATCH_ORDER_SEED_OFFSET)
        n_batches = -(-config.train_size // config.batch_size)
        bar = tqdm(
            total=config.epochs * n_batches,
            desc=config.label(),
            unit="batch",
            disable=not progress,
            leave=False,
        )
        with bar:
            for epoch in range(1, config.epochs + 1):
                batches = epoch_batches(config, train_x, train_y, order)
                losses = train_epoch(replicas, batches, epoch=epoch, progress=bar.update)
                for r in replicas:
                    histories[r.name].record(losses[r.name], evaluate(config, r.net, test_x, test_y))
                bar.set_postfix(epoch=epoch)
        env = environment(config.device)  # inside: the settings the run used
    return RunResult(
        config=config,
        histories=histories,
        environment=env,
        seconds=time.perf_counter() - started,
    )
