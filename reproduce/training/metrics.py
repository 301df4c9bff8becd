"""Test-set measures: SSIM (two documented settings), MAE and accuracy, batched in torch."""

from __future__ import annotations

import math

import torch

# SSIM settings. Each equals skimage.metrics.structural_similarity with the arguments given.
SSIM_SETTINGS = {
    # scikit-image's defaults (and old `compare_ssim`, which the notebook calls):
    # 7x7 uniform window, sample covariance (N / (N - 1)); skimage(win_size=7).
    "skimage": {"window": "uniform", "size": 7, "sample_covariance": True},
    # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, population covariance; skimage(
    # gaussian_weights=True, sigma=1.5, use_sample_covariance=False).
    "wang": {"window": "gaussian", "size": 11, "sample_covariance": False},
}
K1, K2 = 0.01, 0.03  # the stabilising constants of Wang et al., skimage's defaults


def _window(kind: str, size: int, dtype, device) -> torch.Tensor:
    """The filter's 1-D weights, as scipy.ndimage's uniform / gaussian filters (sigma 1.5)."""
    if kind == "uniform":
        return torch.full((size,), 1.0 / size, dtype=dtype, device=device)
    offsets = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    weights = torch.exp(-0.5 * (offsets / 1.5) ** 2)
    return weights / weights.sum()


def _filter_valid(maps: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """Separable filter of [..., H, W] maps over the valid region: [..., H - k + 1, W - k + 1].

    One shifted multiply-add per tap and axis: 2k passes over maps that fit in cache, where a
    banded matmul does 2H multiplies per pixel (5x slower here in float64, measured below).
    """
    size = len(weights)
    width, height = maps.shape[-1] - size + 1, maps.shape[-2] - size + 1
    rows = maps[..., :width] * weights[0]
    for k in range(1, size):
        rows.add_(maps[..., k : k + width], alpha=weights[k])
    out = rows[..., :height, :] * weights[0]
    for k in range(1, size):
        out.add_(rows[..., k : k + height, :], alpha=weights[k])
    return out


# Images per block: the five local-moment maps of 64 images (1.2 MB in float64) stay in cache.
# Mean SSIM of 10,000 MNIST pairs, one thread, AMD EPYC (AVX2): 0.34 s in blocks of 32 or 64,
# 0.46 s in 256, 1.39 s in one block; the banded matmuls this replaced took 1.95 s.
SSIM_BLOCK = 64
# On a GPU there is no cache to fit, and each block costs ~40 kernel launches: a few large blocks
# (5 maps of 4096 images in float64: 128 MB). The block never changes a result.
SSIM_BLOCK_GPU = 4096


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float, setting: str = "skimage") -> torch.Tensor:
    """Mean SSIM of each image pair over the valid (fully covered) windows.

    x: [N, H*W] with H = W (MNIST: 784 -> 28 x 28), or [..., N, H, W] (a stack's nets: one set of
    reconstructions per net); y: images of x's shape, or of its trailing dims (one set of test
    images for every net). Returns [..., N]. data_range is keyword-only and required: the
    notebook's old skimage took 2.0 for floats (the dtype's range, -1..1); images in [0, 1] have
    range 1.0. Each image's value does not depend on the others, so neither the block size nor
    the nets beside it ever change a result.

    >>> ssim(torch.rand(3, 784), torch.rand(3, 784), data_range=1.0).shape
    torch.Size([3])
    """
    if setting not in SSIM_SETTINGS:
        raise ValueError(f"expected setting in {sorted(SSIM_SETTINGS)}, got {setting!r}")
    given = f"{tuple(x.shape)} and {tuple(y.shape)}"
    x, y = _square(x), _square(y)
    if y.dim() > x.dim() or x.shape[x.dim() - y.dim() :] != y.shape:
        raise ValueError(f"expected images of equal shape (or y of x's trailing shape), got {given}")
    if not data_range > 0:
        raise ValueError(f"expected data_range > 0, got {data_range}")
    if x.dim() < 3:
        raise ValueError(f"expected [N, H*W] or [..., N, H, W], got shape {tuple(x.shape)}")
    opts = SSIM_SETTINGS[setting]
    size = opts["size"]
    if min(x.shape[-2:]) < size:
        raise ValueError(f"expected images of at least {size}x{size}, got {tuple(x.shape[-2:])}")
    weights = _window(opts["window"], size, torch.float64, "cpu").tolist()
    n = size**2
    cov_norm = n / (n - 1) if opts["sample_covariance"] else 1.0
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    means = []
    # A block holds about SSIM_BLOCK images in all, whatever the number of nets.
    images = SSIM_BLOCK if x.device.type == "cpu" else SSIM_BLOCK_GPU
    block = max(1, images // x.shape[:-3].numel())
    for xs, ys in zip(x.split(block, dim=-3), y.split(block, dim=-3)):
        xs, ys = torch.broadcast_tensors(xs, ys)
        stacked = torch.stack([xs, ys, xs * xs, ys * ys, xs * ys])  # [5, ..., n, H, W]
        mx, my, mxx, myy, mxy = _filter_valid(stacked, weights)  # local moments, [..., n, H', W'] each
        vx, vy = cov_norm * (mxx - mx * mx), cov_norm * (myy - my * my)
        vxy = cov_norm * (mxy - mx * my)
        s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        means.append(s.flatten(-2).mean(-1))
    return torch.cat(means, dim=-1) if means else x.new_zeros(x.shape[:-2])


def _square(images: torch.Tensor) -> torch.Tensor:
    """[N, H*W] -> [N, H, W]; any other shape as it is."""
    if images.dim() != 2:
        return images
    side = math.isqrt(images.shape[1])
    if side * side != images.shape[1]:
        raise ValueError(f"expected flattened square images, got {images.shape[1]} pixels")
    return images.reshape(-1, side, side)


def mae(reconstructions: torch.Tensor, images: torch.Tensor) -> float:
    """Mean absolute error over every pixel of every image."""
    return (reconstructions - images).abs().mean().item()


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Percent of rows whose argmax of raw scores [N, C] equals the label [N]."""
    return 100.0 * (scores.argmax(1) == labels).double().mean().item()
