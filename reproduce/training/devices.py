"""Which device a run is on, as far as its numbers are concerned.

The one place that knows a CUDA card's identity. cuBLAS promises the same bits only on the
same GPU architecture with the same SM count, and with the same library versions and numerics
settings, so those (not the card's index, ``cuda:N``) name a CUDA run's cache folder and its
baseline folder: two identical cards share runs and baselines, two different models never do.

The numerics are pinned when this module is imported, before anything in the package makes a
CUDA call: PyTorch reads ``CUBLAS_WORKSPACE_CONFIG`` (and ``TORCH_ALLOW_TF32_CUBLAS_OVERRIDE``)
once per process, at the first cuBLAS call, so setting them at the first run is too late.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import re

import torch

WORKSPACE_VAR = "CUBLAS_WORKSPACE_CONFIG"
# The deterministic setting the CUDA baselines are made with. cuBLAS also accepts ":16:8", but
# a different workspace may pick different kernels, hence different bits: one value, not two.
WORKSPACE = ":4096:8"
TF32_OVERRIDE_VAR = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"
REQUIRE_CUDA_VAR = "REPRODUCE_REQUIRE_CUDA"
_TRUE = {"1", "on", "yes", "true", "y"}  # what PyTorch's check_env reads as set


class DeviceError(RuntimeError):
    """The device cannot run the lecture as asked; the message names the setting and the fix."""


class CudaAbsent(DeviceError):
    """CUDA was asked for and this process has none."""


def pin_cuda_numerics() -> None:
    """Fix what decides CUDA's bits before the first CUDA call: the cuBLAS workspace, fp32 matmuls.

    A workspace value the user exported is left for :func:`check` to judge (and refuse).
    """
    os.environ.setdefault(WORKSPACE_VAR, WORKSPACE)
    torch.set_float32_matmul_precision("highest")


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def _env_set(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def cuda_required() -> bool:
    """``REPRODUCE_REQUIRE_CUDA=1`` (the gpu tox env): a CUDA twin that cannot run fails, not skips."""
    return _env_set(REQUIRE_CUDA_VAR)


def absent_reason() -> str:
    """Why this process has no CUDA, as precisely as torch can tell."""
    if torch.version.cuda is None:
        return f"this torch {torch.__version__} is built without CUDA"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    hidden = f", CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else ""
    return (
        f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no usable GPU: no driver, a driver "
        f"older than CUDA {torch.version.cuda} needs, or none visible{hidden}"
    )


def _index(device: str) -> int:
    """The card's ordinal; plain ``cuda`` is the current device."""
    _, _, number = device.partition(":")
    return int(number) if number else torch.cuda.current_device()


def worker_device(worker: str | None) -> str:
    """The card an xdist worker runs on: ``gwN`` takes ``cuda:N`` modulo the visible GPUs.

    Under ``-n auto`` there is one worker per visible GPU (conftest), so each has its own card.
    """
    if not torch.cuda.is_available():
        raise CudaAbsent(absent_reason())
    number = int(worker.removeprefix("gw")) if worker else 0
    return f"cuda:{number % torch.cuda.device_count()}"


def check(device: str) -> None:
    """Refuse, in one line naming the cause, a device this process cannot run bit-reproducibly.

    TF32 is refused, not recorded as another identity: the lecture's notebook trains in fp32, the
    baselines' 1e-5 tolerances are fp32's, and a TF32 run would need baselines of its own per
    card for a precision nobody asked for. ``TORCH_ALLOW_TF32_CUBLAS_OVERRIDE`` is read once per
    process by PyTorch, so the only fix is to unset it and start again; the message says so.
    """
    if not is_cuda(device):
        return
    if not torch.cuda.is_available():
        raise CudaAbsent(
            f"device {device!r} asked for, but CUDA is not available here; use --device cpu "
            f"({absent_reason()})"
        )
    _, _, number = device.partition(":")
    count = torch.cuda.device_count()
    if number and int(number) >= count:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        shown = f" with CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else ""
        raise DeviceError(
            f"device {device!r} asked for, but {count} CUDA device(s) are visible{shown}; "
            f"use one of cuda:0..cuda:{count - 1}"
        )
    if _env_set(TF32_OVERRIDE_VAR):
        raise DeviceError(
            f"{TF32_OVERRIDE_VAR}={os.environ[TF32_OVERRIDE_VAR]} makes every CUDA fp32 matmul use "
            "TF32, far outside the fp32 baselines' tolerances; unset it (NVIDIA's containers set it) "
            "and start again"
        )
    workspace = os.environ.get(WORKSPACE_VAR)
    if workspace != WORKSPACE:
        raise DeviceError(
            f"{WORKSPACE_VAR}={workspace!r}, but CUDA runs need {WORKSPACE!r} (deterministic, and "
            "the setting the CUDA baselines are made with); unset it or export that value, "
            "then start again"
        )
    precision = torch.get_float32_matmul_precision()
    if precision != "highest":
        raise DeviceError(
            f"torch float32 matmul precision is {precision!r} (torch.set_float32_matmul_precision), "
            "which lets CUDA use TF32; CUDA runs need 'highest'"
        )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def model_id(device: str) -> str:
    """The card's model as a folder name: name, compute capability and SM count.

    e.g. ``nvidia-h100-80gb-hbm3-cc90-132sm``. The SM count tells apart cards (and MIG slices)
    that share a name and architecture but not cuBLAS's kernel choices.
    """
    card = torch.cuda.get_device_properties(_index(device))
    return f"{_slug(card.name)}-cc{card.major}{card.minor}-{card.multi_processor_count}sm"


def baseline_folder(device: str) -> str:
    """The baselines/ sub-folder for a device: ``cpu``, or ``cuda/<model id>`` for a CUDA card.

    Every card of one model shares a folder (``cuda:0`` and ``cuda:3`` alike); a model without
    a folder of its own has no baselines, and is never judged against another model's. Where
    this process sees no CUDA (its CUDA twins skip) the folder is ``cuda/none``, which never
    holds a baseline.
    """
    if not is_cuda(device):
        return "cpu"
    return f"cuda/{model_id(device)}" if torch.cuda.is_available() else "cuda/none"


def cpu_identity() -> dict[str, str]:
    """What decides a CPU run's bits besides torch: the processor model and the kernels torch picks.

    The same torch gives different float summation orders on an AVX2 and an AVX-512 machine
    (measured: the MNIST smoke baselines made on an AVX-512 Xeon drift by up to 2.4e-4 relative
    in one seed's CE loss on an AVX2 AMD EPYC), so both name a CPU run.
    """
    model = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": str(torch.get_num_threads()),
    }


def _cublas_version() -> str:
    """The cuBLAS wheel's version, where torch uses one (pip installs); else torch's CUDA decides."""
    for wheel in ("nvidia-cublas", "nvidia-cublas-cu13", "nvidia-cublas-cu12", "nvidia-cublas-cu11"):
        try:
            return importlib.metadata.version(wheel)
        except importlib.metadata.PackageNotFoundError:
            continue
    return f"bundled with CUDA {torch.version.cuda}"


def identity(device: str) -> dict[str, str]:
    """What decides a CUDA run's bits besides code and torch: the card and the numerics settings."""
    card = torch.cuda.get_device_properties(_index(device))
    return {
        "gpu_model": model_id(device),
        "gpu_name": card.name,
        "compute_capability": f"{card.major}.{card.minor}",
        "sm_count": str(card.multi_processor_count),
        "cuda": str(torch.version.cuda),
        "cublas": _cublas_version(),
        "matmul_precision": torch.get_float32_matmul_precision(),
        "cublas_workspace_config": os.environ.get(WORKSPACE_VAR, ""),
    }


def cache_tag(device: str) -> str:
    """A folder-name part for a CUDA run's identity: the model id and a hash of the rest."""
    digest = hashlib.sha256(json.dumps(identity(device), sort_keys=True).encode()).hexdigest()
    return f"{model_id(device)}-{digest[:8]}"


def out_of_memory(run: str, device: str) -> str:
    """One line for a CUDA out-of-memory error: which run, on which card, and what to lower."""
    card = torch.cuda.get_device_properties(_index(device))
    return (
        f"{run}: out of memory on {device} ({card.name}, {card.total_memory / 2**30:.0f} GiB); "
        "lower --scale to smoke, run fewer runs per GPU (pytest -n), or free the GPU"
    )


def gpu_error(error: RuntimeError) -> str | None:
    """One line for a CUDA runtime error the CLI did not foresee; None if it is not a CUDA one."""
    text = str(error)
    if WORKSPACE_VAR in text:
        return (
            f"cuBLAS refused deterministic mode: {WORKSPACE_VAR} must be {WORKSPACE!r} before the "
            "process's first CUDA call; unset it or export that value, then start again"
        )
    if isinstance(error, torch.cuda.OutOfMemoryError) or "CUDA" in text or "cuBLAS" in text:
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        return f"CUDA failed: {first}"
    return None


pin_cuda_numerics()
