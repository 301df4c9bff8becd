"""SSIM against scikit-image (the independent reference), MAE and accuracy."""

import pytest
import torch
from skimage.metrics import structural_similarity

from reproduce.training import data, metrics
from reproduce.training.models import Autoencoder
from reproduce.training.train import train_step

# skimage arguments that give each of our settings (see reproduce/training/metrics.py).
SKIMAGE_ARGS = {
    "skimage": {"win_size": 7},
    "wang": {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False},
}


def skimage_ssim(x, y, data_range, setting):
    return torch.tensor(
        [
            structural_similarity(a.numpy(), b.numpy(), data_range=data_range, **SKIMAGE_ARGS[setting])
            for a, b in zip(x, y)
        ],
        dtype=torch.float64,
    )


@pytest.mark.parametrize("setting", ["skimage", "wang"])
@pytest.mark.parametrize("data_range", [1.0, 2.0])
def test_ssim_equals_skimage_on_random_images(setting, data_range):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 28, 28, dtype=torch.float64, generator=g)
    y = (x + 0.3 * torch.randn(6, 28, 28, dtype=torch.float64, generator=g)).clamp(0, 1)
    ours = metrics.ssim(x, y, data_range=data_range, setting=setting)
    torch.testing.assert_close(ours, skimage_ssim(x, y, data_range, setting), rtol=0, atol=1e-6)


@pytest.mark.parametrize("setting", ["skimage", "wang"])
def test_ssim_equals_skimage_on_mnist_reconstructions(data_dir, setting):
    images, _ = data.load_split("mnist", data_dir, train=False, size=200)
    torch.manual_seed(0)
    net = Autoencoder()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(20):  # a partly trained net: reconstructions neither blank nor perfect
        train_step(net, opt, torch.nn.MSELoss(), images[:100], images[:100])
    with torch.no_grad():
        recon = net(images[100:]).double().view(-1, 28, 28)
    truth = images[100:].double().view(-1, 28, 28)
    ours = metrics.ssim(recon, truth, data_range=2.0, setting=setting)
    torch.testing.assert_close(ours, skimage_ssim(recon, truth, 2.0, setting), rtol=0, atol=1e-6)
    assert 0.05 < ours.mean() < 0.95


def test_ssim_of_an_image_does_not_depend_on_the_others():
    """Images are measured in blocks of SSIM_BLOCK: a batch that spans blocks changes no bit."""
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2 * metrics.SSIM_BLOCK + 3, 784, dtype=torch.float64, generator=g)
    y = (x + 0.2 * torch.randn(x.shape, dtype=torch.float64, generator=g)).clamp(0, 1)
    alone = torch.cat([metrics.ssim(a[None], b[None], data_range=1.0) for a, b in zip(x, y)])
    assert torch.equal(metrics.ssim(x, y, data_range=1.0), alone)
    assert torch.equal(metrics.ssim(x[5:70], y[5:70], data_range=1.0), alone[5:70])


def test_ssim_of_many_nets_at_once_is_each_nets_own():
    """A stack's reconstructions [nets, N, H, W] against one set of images [N, H, W] (a block then
    holds SSIM_BLOCK / nets images per net): each net's values, bit for bit."""
    g = torch.Generator().manual_seed(3)
    images = torch.rand(2 * metrics.SSIM_BLOCK + 3, 28, 28, dtype=torch.float64, generator=g)
    recon = (images + 0.2 * torch.randn((5, *images.shape), dtype=torch.float64, generator=g)).clamp(0, 1)
    together = metrics.ssim(recon, images, data_range=1.0)
    assert together.shape == (5, len(images))
    assert torch.equal(together, torch.stack([metrics.ssim(r, images, data_range=1.0) for r in recon]))


def test_ssim_of_an_image_with_itself_is_one_and_symmetric():
    x = torch.rand(3, 784, dtype=torch.float64)
    y = torch.rand(3, 784, dtype=torch.float64)
    torch.testing.assert_close(metrics.ssim(x, x, data_range=1.0), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(metrics.ssim(x, y, data_range=1.0), metrics.ssim(y, x, data_range=1.0))


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (
            torch.rand(2, 784),
            torch.rand(3, 784),
            {},
            r"expected images of equal shape .*, got \(2, 784\) and \(3, 784\)",
        ),
        (torch.rand(2, 780), torch.rand(2, 780), {}, r"expected flattened square images, got 780"),
        (
            torch.rand(2, 5, 5),
            torch.rand(2, 5, 5),
            {},
            r"expected images of at least 7x7, got \(5, 5\)",
        ),
        (torch.rand(784), torch.rand(784), {}, r"expected \[N, H\*W\] or \[\.\.\., N, H, W\]"),
        (torch.rand(1, 784), torch.rand(1, 784), {"data_range": 0.0}, r"expected data_range > 0"),
        (torch.rand(1, 784), torch.rand(1, 784), {"setting": "ms"}, r"expected setting in"),
    ],
)
def test_ssim_rejects_bad_input(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.ssim(x, y, **({"data_range": 1.0} | kwargs))


def test_ssim_data_range_is_keyword_only_and_required():
    with pytest.raises(TypeError):
        metrics.ssim(torch.rand(1, 784), torch.rand(1, 784), 1.0)
    with pytest.raises(TypeError):
        metrics.ssim(torch.rand(1, 784), torch.rand(1, 784))


def test_mae_and_accuracy():
    assert metrics.mae(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]])) == 0.5
    scores = torch.tensor([[0.1, 0.9], [2.0, -1.0], [0.0, 3.0], [5.0, 4.0]])
    assert metrics.accuracy(scores, torch.tensor([1, 0, 0, 1])) == 50.0
