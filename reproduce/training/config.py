"""What one run is: a frozen record whose stable hash is the run's cache key.

A run trains one replica network per loss, all on the same minibatches, exactly as the
lecture's notebook does (net1, net2, ... each with its own optimiser). The recipe's defaults
are the notebook's: batch 100, Adam lr 1e-4, 10 epochs, MNIST with ToTensor only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
from dataclasses import dataclass

from reproduce.training.datasets import DATASETS

EXPERIMENTS = ("regression", "classification")
LECTURE_DATASET = "mnist"  # what the lecture trains on; the others test what carries over
# The seeds claims are judged over and baselines are kept for (CLI, pytest, baselines).
DEFAULT_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Scale:
    """How much of the data a run sees and for how long."""

    train_size: int  # first N training images (the lecture uses all 60000)
    test_size: int  # first N test images (the lecture uses all 10000)
    epochs: int  # passes over the training subset


SCALES = {
    # The lecture as taught: every image, 10 epochs.
    "lecture": Scale(train_size=60_000, test_size=10_000, epochs=10),
    # A fast variant for quick tests and every tox env: same recipe on a tenth of the data.
    "smoke": Scale(train_size=6_000, test_size=2_000, epochs=3),
}
QUICK_SCALE = "smoke"  # the scale of the fast test run; every other scale is marked slow

# The losses the lecture's notebook trains, in the notebook's order (net1, net2, net3).
LECTURE_LOSSES = {
    "regression": ("mse", "l1"),
    "classification": ("ce", "nll", "multimargin"),
}

# How a study's runs are trained (reproduce.training.study.train_study): each run on its own, its nets one
# after another (the CPU's, in a pool of processes), or every net of every run in one stack
# (reproduce.training.stacked: a GPU's, which one net at a time leaves waiting on kernel launches).
SCHEDULES = ("per-run", "stacked")


# The oldest torch the suite runs on, the capture guard (tests/test_capture_guard.py) included:
# tox's ``oldest`` env installs it, and pyproject.toml's floor is this (tests/test_packaging.py).
TORCH_FLOOR = "2.13"


class ScheduleFallback(UserWarning):
    """The stacked schedule cannot run as asked; the study trains on another way, said once."""


def schedule_for(asked: str | None, device: str) -> str:
    """The schedule a study trains on: ``asked``, else stacked on CUDA and per run on the CPU
    (where the pool of one-thread runs is the faster). Under a torch older than TORCH_FLOOR,
    whose CUDA graph and vmap paths nobody has tested, the stacked schedule trains per run."""
    import torch

    schedule = asked or ("stacked" if device.startswith("cuda") else "per-run")
    if schedule not in SCHEDULES:
        raise ValueError(f"expected schedule in {SCHEDULES}, got {schedule!r}")
    if schedule == "stacked" and torch.torch_version.TorchVersion(torch.__version__) < TORCH_FLOOR:
        warnings.warn(
            f"torch {torch.__version__} is older than {TORCH_FLOOR}, the oldest the stacked schedule "
            "is tested on; training per run",
            ScheduleFallback,
            stacklevel=2,
        )
        return "per-run"
    return schedule


_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class RunConfig:
    """One run of one experiment. Build it with :meth:`at_scale`; every field is validated."""

    experiment: str  # "regression" (autoencoders) or "classification"
    losses: tuple[str, ...]  # one replica per loss, initialised in this order
    seed: int = 0  # seeds the inits (drawn in order) and, separately, the batch order
    dataset: str = LECTURE_DATASET  # a key of reproduce.training.datasets.DATASETS
    scale: str = "lecture"  # a key of SCALES; informs train_size, test_size, epochs
    train_size: int = 60_000  # first N training images
    test_size: int = 10_000  # first N test images
    epochs: int = 10  # the notebook's `iterations = 10`
    batch_size: int = 100  # the notebook's `BatchSize = 100`
    lr: float = 1e-4  # Adam's learning rate, as in the notebook
    # Adam's update as one kernel (torch's fused=True): the same algorithm, last-bit different, and
    # 1.3x (autoencoder) and 1.5x (classifier) faster steps on a CPU (one thread, AMD EPYC: 9.2 -> 7.1
    # and 6.1 -> 4.1 ms). False: the per-parameter loop a notebook's plain Adam runs on a CPU.
    fused_adam: bool = True
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N"
    shared_init: bool = False  # True: every replica starts from the first replica's weights

    @classmethod
    def at_scale(cls, experiment: str, scale: str = "lecture", **overrides) -> RunConfig:
        """The notebook's recipe at a scale, with overrides; an unknown key is an error.

        >>> RunConfig.at_scale("classification", "smoke", seed=3).epochs
        3
        """
        if scale not in SCALES:
            raise ValueError(f"expected scale in {sorted(SCALES)}, got {scale!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(
                f"unknown RunConfig field(s) {', '.join(unknown)}; expected some of {sorted(known)}"
            )
        fields = dataclasses.asdict(SCALES[scale]) | {"losses": LECTURE_LOSSES.get(experiment, ())}
        return cls(experiment=experiment, scale=scale, **(fields | overrides))

    def __post_init__(self) -> None:
        # Imported here: the loss registry validates names, and config must stay import-light.
        from reproduce.training.losses import get_loss

        object.__setattr__(self, "losses", tuple(self.losses))
        if self.experiment not in EXPERIMENTS:
            raise ValueError(f"expected experiment in {EXPERIMENTS}, got {self.experiment!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"expected dataset in {tuple(DATASETS)}, got {self.dataset!r}")
        if not self.losses:
            raise ValueError("expected at least one loss, got none")
        if len(set(self.losses)) != len(self.losses):
            raise ValueError(f"expected distinct losses, got {self.losses}")
        for name in self.losses:
            task = get_loss(name).task
            if task != self.experiment:
                raise ValueError(f"loss {name!r} is a {task} loss; expected a {self.experiment} loss")
        for field in ("seed", "train_size", "test_size", "epochs", "batch_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"expected {field} to be an int, got {value!r}")
        if self.seed < 0:
            raise ValueError(f"expected seed >= 0, got {self.seed}")
        for field in ("train_size", "test_size", "epochs", "batch_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"expected {field} >= 1, got {getattr(self, field)}")
        if not isinstance(self.fused_adam, bool):
            raise TypeError(f"expected fused_adam to be a bool, got {self.fused_adam!r}")
        if not self.lr > 0:
            raise ValueError(f"expected lr > 0, got {self.lr}")
        if not _DEVICE.match(self.device):
            raise ValueError(f"expected device 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"losses": list(self.losses)}

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        return cls(**(data | {"losses": tuple(data["losses"])}))

    def key(self) -> str:
        """A stable short hash of every field: the run's name in caches and result folders."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def label(self) -> str:
        """A readable name, e.g. ``classification-mnist-lecture-seed0``."""
        shared = "-shared-init" if self.shared_init else ""
        return f"{self.experiment}-{self.dataset}-{self.scale}-seed{self.seed}{shared}"
