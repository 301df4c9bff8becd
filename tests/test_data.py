"""Finding, verifying and loading the data; every damage is named with a way to fix it."""

import shutil

import local_mirror
import pytest
import torch
from torchvision import datasets, transforms

from reproduce.training import data

RAW = "train-images-idx3-ubyte"


@pytest.fixture
def mnist_copy(data_dir, tmp_path):
    """A private, writable copy of the verified MNIST raw files."""
    shutil.copytree(data_dir / "MNIST" / "raw", tmp_path / "MNIST" / "raw")
    return tmp_path


def test_verified_data_passes(mnist_copy):
    data.verify("mnist", mnist_copy)


def test_a_missing_file_is_named_with_the_fix(mnist_copy):
    (mnist_copy / "MNIST" / "raw" / RAW).unlink()
    with pytest.raises(
        data.DataError,
        match=rf"mnist: missing file .*{RAW}\. Point --data-dir or REPRODUCE_DATA_DIR",
    ):
        data.verify("mnist", mnist_copy)


def test_a_truncated_file_is_named_with_its_checksum(mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / RAW
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(
        data.DataError,
        match=rf"mnist: damaged file .*{RAW} \(1000 bytes\): SHA-256 is [0-9a-f]{{64}}, expected ba891046",
    ):
        data.verify("mnist", mnist_copy)


def test_one_flipped_byte_is_caught(mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    raw = bytearray(path.read_bytes())
    raw[5000] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(
        data.DataError,
        match=r"damaged file .*t10k-labels-idx1-ubyte .*delete it and run `reproduce data --download",
    ):
        data.verify("mnist", mnist_copy)


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"expected dataset in \['fashion-mnist', 'mnist'\], got 'cifar'"):
        data.verify("cifar", "/nowhere")


def test_splits_are_exactly_what_totensor_gives(data_dir):
    images, labels = data.load_split("mnist", data_dir, train=False, size=50)
    assert images.shape == (50, 784) and images.dtype == torch.float32
    assert labels.shape == (50,) and labels.dtype == torch.int64
    reference = datasets.MNIST(str(data_dir), train=False, transform=transforms.ToTensor())
    for i in (0, 7, 49):
        image, label = reference[i]
        assert torch.equal(images[i], image.view(784)) and labels[i] == label


def test_fashion_mnist_loads_too(data_dir):
    if not (data_dir / "FashionMNIST" / "raw").is_dir():
        pytest.skip(f"Fashion-MNIST not under {data_dir}. {data.how_to_provide('fashion-mnist', data_dir)}")
    images, labels = data.load_split("fashion-mnist", data_dir, train=True, size=60_000)
    assert images.shape == (60_000, 784) and 0.0 <= images.min() and images.max() <= 1.0
    assert set(labels.unique().tolist()) == set(range(10))


def test_asking_for_more_images_than_exist(data_dir):
    with pytest.raises(ValueError, match=r"expected at most 10000 test images, got size 10001"):
        data.load_split("mnist", data_dir, train=False, size=10_001)


def test_batches_cover_every_index_once_in_a_seeded_order():
    first = data.batch_indices(250, 100, torch.Generator().manual_seed(3))
    again = data.batch_indices(250, 100, torch.Generator().manual_seed(3))
    other = data.batch_indices(250, 100, torch.Generator().manual_seed(4))
    assert [len(b) for b in first] == [100, 100, 50]
    assert sorted(torch.cat(first).tolist()) == list(range(250))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert data.resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv(data.ENV_VAR)
    assert data.resolve_data_dir(None) == data.default_data_dir()


# Downloading: torchvision's own download from a mirror on 127.0.0.1, then our SHA-256 check.


@pytest.fixture
def mirror(data_dir, tmp_path_factory, monkeypatch):
    with local_mirror.serve(local_mirror.packed(data_dir, tmp_path_factory), monkeypatch) as served:
        yield served


def test_missing_data_is_downloaded_then_verified(mirror, tmp_path, capsys):
    root = tmp_path / "fresh"
    data.ensure("mnist", root, fetch_missing=True)
    assert set(mirror.requested) == {f"/{name}.gz" for name in data.DATASETS["mnist"].sha256}
    for name, sha256 in data.DATASETS["mnist"].sha256.items():
        assert data._sha256(root / "MNIST" / "raw" / name) == sha256
    assert f"mnist: files missing under {root}; downloading them with torchvision" in capsys.readouterr().out
    asked = len(mirror.requested)
    data.ensure("mnist", root, fetch_missing=True)  # all there now: nothing fetched again
    assert len(mirror.requested) == asked


def test_a_download_that_differs_from_the_published_file_is_caught(mirror, tmp_path, monkeypatch):
    mirror.damage("t10k-labels-idx1-ubyte", monkeypatch)  # torchvision's MD5 check passes
    with pytest.raises(data.DataError, match=r"damaged file .*t10k-labels-idx1-ubyte .*expected ff7bcfd4"):
        data.ensure("mnist", tmp_path, fetch_missing=True)


def test_offline_the_missing_file_is_named_with_the_fix_and_why_the_download_failed(tmp_path, monkeypatch):
    url = local_mirror.unreachable(monkeypatch)
    with pytest.raises(data.MissingData) as raised:
        data.ensure("mnist", tmp_path, fetch_missing=True)
    message = str(raised.value)
    assert message.startswith(f"mnist: missing file {tmp_path / 'MNIST' / 'raw'}")
    assert data.how_to_provide("mnist", tmp_path) in message
    assert f"The download failed too: Error downloading train-images-idx3-ubyte.gz: Tried {url}" in message
    assert "\n" not in message


def test_offline_covers_fashion_mnist_too(tmp_path, monkeypatch):
    url = local_mirror.unreachable(monkeypatch)
    with pytest.raises(data.MissingData, match=rf"^fashion-mnist: missing file .*Tried {url}"):
        data.ensure("fashion-mnist", tmp_path, fetch_missing=True)


def test_without_fetch_missing_nothing_is_requested(mirror, tmp_path):
    with pytest.raises(
        data.MissingData, match=r"^mnist: missing file .* on a machine with network access\.$"
    ):
        data.ensure("mnist", tmp_path, fetch_missing=False)
    assert mirror.requested == []


def test_a_damaged_file_is_not_replaced_by_a_download(mirror, mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / RAW
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(data.DataError, match=rf"damaged file .*{RAW} \(1000 bytes\)"):
        data.ensure("mnist", mnist_copy, fetch_missing=True)
    assert mirror.requested == []
