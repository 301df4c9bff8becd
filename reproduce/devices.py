"""Which device a run is on, as far as its numbers are concerned."""

from __future__ import annotations


def baseline_folder(device: str) -> str:
    """The baselines/ sub-folder for a device: 'cpu', or the CUDA card's own folder."""
    return device.split(":")[0]
