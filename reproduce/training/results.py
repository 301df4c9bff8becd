"""Run records as JSON, written atomically, and an on-disk cache that trains each run once.

A result holds the resolved config, every replica's per-epoch history and the environment it
ran in. The cache is safe across processes (pytest-xdist workers, parallel CLI calls): each run
has a lock file, and a process that finds a run locked trains another one meanwhile.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from filelock import FileLock, Timeout

from reproduce.training import devices
from reproduce.training.config import RunConfig

SCHEMA = 1  # bump when the JSON layout changes; older cache entries are then retrained


@dataclass
class History:
    """One replica's curves: per-epoch training loss and test measures, plus the untrained net's."""

    untrained: dict[str, float]
    train_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def record(self, train_loss: float, measured: dict[str, float]) -> None:
        self.train_loss.append(train_loss)
        for name, value in measured.items():
            self.metrics.setdefault(name, []).append(value)

    def curve(self, name: str) -> list[float]:
        """``train_loss`` or a test measure, per epoch."""
        return self.train_loss if name == "train_loss" else self.metrics[name]


@dataclass
class RunResult:
    config: RunConfig
    histories: dict[str, History]  # loss name -> its replica's history
    environment: dict[str, str]
    seconds: float

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "config": self.config.to_dict(),
            "key": self.config.key(),
            "histories": {k: dataclasses.asdict(h) for k, h in self.histories.items()},
            "environment": self.environment,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict) -> RunResult:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"expected result schema {SCHEMA}, got {data.get('schema')}")
        return cls(
            config=RunConfig.from_dict(data["config"]),
            histories={k: History(**h) for k, h in data["histories"].items()},
            environment=data["environment"],
            seconds=data["seconds"],
        )

    def save(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> RunResult:
        return cls.from_dict(json.loads(Path(path).read_text()))


def environment(device: str) -> dict[str, str]:
    """Versions and hardware that decide the numbers; for CUDA, the card and its numerics too."""
    cuda = devices.identity(device) if devices.is_cuda(device) else {}
    cpu = devices.cpu_identity()
    return (
        {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": importlib.metadata.version("numpy"),
            "device": device,
            "device_name": cuda.get("gpu_name") or cpu["cpu_model"],
            "platform": sys.platform,
        }
        | cpu
        | cuda
    )


def _umask() -> int:
    """The process's umask (only readable by setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | os.PathLike, data) -> None:
    """Write JSON through a temp file and rename: a kill mid-write leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0600; honour the umask like open()
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# The modules whose code decides a run's numbers; editing any other module keeps the cache.
TRAINING_MODULES = (
    "capture.py",
    "config.py",
    "data.py",
    "experiments.py",
    "losses.py",
    "metrics.py",
    "models.py",
    "results.py",
    "stacked.py",
    "train.py",
)


def cache_identity(device: str = "cpu") -> str:
    """What besides the config decides a run's numbers: code, versions, the CPU's kernels
    (AVX2, AVX-512...) and thread count and, on CUDA, the card's model and numerics settings
    (devices.identity), never its index."""
    source = hashlib.sha256()
    for module in TRAINING_MODULES:
        source.update((Path(__file__).parent / module).read_bytes())
    cuda = f"-{devices.cache_tag(device)}" if devices.is_cuda(device) else ""
    return (
        f"torch{torch.__version__}-py{platform.python_version()}-threads{torch.get_num_threads()}"
        f"-{torch.backends.cpu.get_cpu_capability().lower()}-code{source.hexdigest()[:12]}{cuda}"
    )


def default_cache_dir() -> Path:
    """Where trained runs are kept unless told otherwise, by the CLI and the tests alike."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("reproduce-lecture22")) / "runs"


class RunCache:
    """Results on disk, one JSON per config, shared safely by concurrent processes."""

    def __init__(self, directory: str | os.PathLike):
        self.root = Path(directory)

    def path(self, config: RunConfig, stack: str = "") -> Path:
        """The run's file, in its identity's folder. ``cuda:N`` is filed as ``cuda``: the folder
        names the card's model, so workers on identical cards share each run and train it once.
        ``stack``: the stack the run was trained in (reproduce.training.stacked), filed apart."""
        shared = dataclasses.replace(config, device="cuda") if devices.is_cuda(config.device) else config
        folder = self.root / (cache_identity(config.device) + (f"-{stack}" if stack else ""))
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{config.label()}-{shared.key()}.json"

    def get(self, config: RunConfig, stack: str = "") -> RunResult | None:
        """The cached result, or None where it is absent, damaged or of an older schema."""
        path = self.path(config, stack)
        if not path.is_file():
            return None
        try:
            return RunResult.load(path)
        except (ValueError, KeyError, TypeError):  # damaged or old: train again
            return None

    def ensure(
        self, configs: Sequence[RunConfig], train: Callable[[RunConfig], RunResult]
    ) -> list[RunResult]:
        """Every config's result, training the missing ones; no run is trained twice.

        A process takes the lock of a missing run it can get at once and trains it; when all
        missing runs are locked by others it waits for one of them.
        """
        results: dict[RunConfig, RunResult] = {}
        while len(results) < len(configs):
            pending = [c for c in configs if c not in results]
            progressed = False
            for config in pending:
                found = self.get(config)
                if found is None:
                    try:
                        with FileLock(str(self.path(config)) + ".lock", timeout=0):
                            found = self.get(config) or self._train(config, train)
                    except Timeout:
                        continue  # another process trains it; try the next one
                results[config], progressed = found, True
            if not progressed:  # all pending runs are being trained elsewhere: wait for one
                with FileLock(str(self.path(pending[0])) + ".lock"):
                    pass
        return [results[c] for c in configs]

    def ensure_stack(
        self,
        configs: Sequence[RunConfig],
        train_all: Callable[[Sequence[RunConfig]], list[RunResult]],
        *,
        stack: str,
    ) -> list[RunResult]:
        """Every config's result, all trained together by ``train_all`` if any is missing.

        A stack's runs are filed under the stack's name: a run's bits may depend on what else
        was in its stack. One process trains a stack; the others wait for it.
        """
        with FileLock(str(self.path(configs[0], stack).parent / f"{stack}.lock")):
            results = [self.get(config, stack) for config in configs]
            if None in results:  # a run absent, damaged or old: the whole stack trains again
                results = train_all(configs)
                for result in results:
                    result.save(self.path(result.config, stack))
        return results

    def _train(self, config: RunConfig, train: Callable[[RunConfig], RunResult]) -> RunResult:
        result = train(config)
        result.save(self.path(config))
        return result
