"""A dataset mirror on 127.0.0.1, for testing the download without the internet.

``mirror(tmp_path_factory, data_dir, monkeypatch)`` gzips the verified raw files as torchvision
expects them, serves them over HTTP and points ``torchvision.datasets.MNIST.mirrors`` there.
The archives are ours, so their MD5s (torchvision's check) are patched to match; the SHA-256 of
every uncompressed file (our check) is the real table.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import shutil
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from torchvision import datasets

from reproduce.training import data


@dataclass
class Mirror:
    folder: Path  # what the server serves: <name>.gz for each raw file
    url: str
    requested: list[str] = field(default_factory=list)  # GET paths, each twice (probe, download)

    def damage(self, raw_name: str, monkeypatch) -> None:
        """Serve ``raw_name`` with one flipped byte, in an archive whose MD5 torchvision accepts."""
        archive = self.folder / f"{raw_name}.gz"
        raw = bytearray(gzip.decompress(archive.read_bytes()))
        raw[len(raw) // 2] ^= 0x01
        archive.write_bytes(gzip.compress(bytes(raw), compresslevel=1, mtime=0))
        patch_md5s(self.folder, monkeypatch)


def gzip_raw_files(source: Path, target: Path) -> Path:
    """``<source>/MNIST/raw/<name>`` -> ``<target>/<name>.gz``, as the real mirrors hold them."""
    target.mkdir(parents=True, exist_ok=True)
    for name in data.DATASETS["mnist"].sha256:
        with (
            open(source / "MNIST" / "raw" / name, "rb") as raw,
            gzip.GzipFile(target / f"{name}.gz", "wb", compresslevel=1, mtime=0) as packed,
        ):
            shutil.copyfileobj(raw, packed)
    return target


def patch_md5s(folder: Path, monkeypatch) -> None:
    """torchvision checks each archive's MD5 against its class table: make it these archives'."""
    resources = [
        (name, hashlib.md5((folder / name).read_bytes()).hexdigest()) for name, _ in datasets.MNIST.resources
    ]
    monkeypatch.setattr(datasets.MNIST, "resources", resources)


@contextlib.contextmanager
def serve(folder: Path, monkeypatch):
    """Serve ``folder`` on 127.0.0.1 and make it MNIST's only mirror."""
    mirror = Mirror(folder, "")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            mirror.requested.append(self.path)
            try:
                super().do_GET()
            except ConnectionError:  # torchvision probes for redirects with a GET it drops unread
                pass

        def log_message(self, *args):  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    mirror.url = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setattr(datasets.MNIST, "mirrors", [mirror.url])
    patch_md5s(folder, monkeypatch)
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()


def unreachable(monkeypatch) -> str:
    """Point every dataset's mirrors at a closed port on 127.0.0.1: a download fails as offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    for spec in data.DATASETS.values():  # FashionMNIST has mirrors of its own
        monkeypatch.setattr(spec.torchvision_class, "mirrors", [url])
    return url


@functools.cache
def _packed_once(source: Path, target: Path) -> Path:
    return gzip_raw_files(source, target)


def packed(data_dir: Path, tmp_path_factory) -> Path:
    """A fresh copy of the gzipped raw files (gzipped once per process)."""
    cache = _packed_once(Path(data_dir), tmp_path_factory.getbasetemp() / "mnist-gz")
    copy = tmp_path_factory.mktemp("mirror")
    for archive in cache.iterdir():
        shutil.copy(archive, copy / archive.name)
    return copy
