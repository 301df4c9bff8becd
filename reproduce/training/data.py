"""Find, verify and load MNIST / Fashion-MNIST as whole tensors on the run's device.

The files live in torchvision's layout (``<root>/MNIST/raw/train-images-idx3-ubyte`` ...) and
are read by torchvision's own dataset classes. Before first use in a process every raw file is
checked against the SHA-256 table below, so a damaged file is named before it trains anything.
Pixels are scaled exactly as ``transforms.ToTensor()`` scales them (uint8 / 255, no
normalisation) and flattened to 784, as in the notebook.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from pathlib import Path

import torch
from filelock import FileLock

from reproduce.training.datasets import DATASETS

ENV_VAR = "REPRODUCE_DATA_DIR"


class DataError(RuntimeError):
    """The data is missing or damaged; the message says which file and what to do."""


class MissingData(DataError):
    """A raw file is absent (rather than damaged): downloading it may help."""


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("reproduce-lecture22")) / "data"


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``--data-dir`` if given, else ``$REPRODUCE_DATA_DIR``, else a per-user cache dir."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return default_data_dir()


def how_to_provide(dataset: str, root: Path) -> str:
    folder = DATASETS[dataset].folder
    return (
        f"Point --data-dir or {ENV_VAR} at a folder holding {folder}/raw/<files> "
        f"(torchvision's layout), or run `reproduce data --download --data-dir {root}` "
        "on a machine with network access."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_verified: set[tuple[str, int, int]] = set()  # (path, size, mtime) checked in this process


def verify(dataset: str, root: str | os.PathLike) -> None:
    """Raise :class:`DataError` naming the first raw file that is missing or damaged."""
    if dataset not in DATASETS:
        raise ValueError(f"expected dataset in {sorted(DATASETS)}, got {dataset!r}")
    root = Path(root)
    spec = DATASETS[dataset]
    for name, expected in spec.sha256.items():
        path = root / spec.folder / "raw" / name
        if not path.is_file():
            raise MissingData(f"{dataset}: missing file {path}. {how_to_provide(dataset, root)}")
        stat = path.stat()
        stamp = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if stamp in _verified:
            continue
        actual = _sha256(path)
        if actual != expected:
            raise DataError(
                f"{dataset}: damaged file {path} ({stat.st_size} bytes): SHA-256 is {actual}, "
                f"expected {expected}. Replace it with an intact copy (delete it and run "
                f"`reproduce data --download --data-dir {root}`)."
            )
        _verified.add(stamp)


# Seconds one network read may stall: torchvision's urlopen has no timeout, so a link that drops
# packets would otherwise hang the download for good.
DOWNLOAD_TIMEOUT_S = 60


def _fetch(dataset: str, root: Path) -> None:
    """torchvision's own download: its mirrors, the MD5 of each archive, a progress bar.

    One process at a time per folder; torchvision skips the files already there.
    """
    spec = DATASETS[dataset]
    root.mkdir(parents=True, exist_ok=True)
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with FileLock(str(root / f".{spec.folder}.download.lock")):
            for train in (True, False):
                spec.torchvision_class(str(root), train=train, download=True)
    finally:
        socket.setdefaulttimeout(before)


def download(dataset: str, root: str | os.PathLike) -> None:
    """Fetch the raw files with torchvision (network needed), then verify their SHA-256."""
    _fetch(dataset, Path(root))
    verify(dataset, root)


def ensure(dataset: str, root: str | os.PathLike, *, fetch_missing: bool) -> None:
    """Verify the files; where some are missing and ``fetch_missing``, download them first.

    Without network the error is the missing file's (with how to provide it) plus why the
    download failed, on one line. A damaged file is never replaced: its error says to delete it.
    """
    try:
        verify(dataset, root)
    except MissingData as missing:
        if not fetch_missing:
            raise
        print(f"{dataset}: files missing under {root}; downloading them with torchvision", flush=True)
        try:
            _fetch(dataset, Path(root))
        except (RuntimeError, OSError) as error:  # no network, no mirror, an unwritable folder
            reason = " ".join(str(error).split())
            raise MissingData(f"{missing} The download failed too: {reason}") from None
        verify(dataset, root)


@functools.lru_cache(maxsize=8)
def _read_split(dataset: str, root: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    verify(dataset, root)
    split = DATASETS[dataset].torchvision_class(root, train=train, download=False)
    images = split.data.reshape(len(split.data), 28 * 28)  # [N, 28, 28] uint8 -> [N, 784]
    return images.float().div(255), split.targets.long()  # exactly ToTensor()'s scaling


def load_split(
    dataset: str, root: str | os.PathLike, *, train: bool, size: int, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``size`` images [size, 784] float32 in [0, 1] and labels [size] int64.

    Read and verified once per process, then kept whole on ``device`` (no per-sample PIL).
    """
    images, labels = _read_split(dataset, str(Path(root)), train)
    if size > len(images):
        which = "training" if train else "test"
        raise ValueError(f"expected at most {len(images)} {which} images, got size {size}")
    return images[:size].to(device), labels[:size].to(device)


def epoch_order(n: int, generator: torch.Generator, device: str = "cpu") -> torch.Tensor:
    """One epoch's shuffled order of ``n`` samples, as ``DataLoader(shuffle=True)`` draws it.

    Drawn on the CPU (a seed means one order on every device), then moved in one copy: indexing
    a GPU tensor with CPU indices would copy (and sync) once per batch.
    """
    return torch.randperm(n, generator=generator).to(device)


def batch_indices(
    n: int, batch_size: int, generator: torch.Generator, device: str = "cpu"
) -> list[torch.Tensor]:
    """One epoch of shuffled minibatch indices (:func:`epoch_order`, split), on ``device``.

    >>> [b.tolist() for b in batch_indices(5, 2, torch.Generator().manual_seed(0))]
    [[4, 0], [1, 3], [2]]
    """
    return list(epoch_order(n, generator, device).split(batch_size))
