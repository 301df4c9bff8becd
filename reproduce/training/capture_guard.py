"""A CUDA graph's rules, checked on any device: what a captured step may not do.

A CUDA graph records kernels, not Python: an op that needs the host to look at a result
(``.item()``, ``bool(tensor)``, a shape that depends on the data), copies memory between host
and device, or draws from a generator either fails the capture or replays something other than
the eager step did. Where no GPU is at hand, :class:`CaptureGuard` (a ``TorchDispatchMode``)
watches every op dispatched inside it and fails on the first such op, naming it and the line of
this package (or of a test) that issued it; it counts every op and every sync it saw, so that a
steady-state step can be shown to sync the host zero times. ``tests/test_capture_guard.py`` runs
the stacked step (reproduce/training/stacked.py) under it as
:class:`~reproduce.training.capture.CapturedStep` captures it, for both experiments and every loss.
"""

from __future__ import annotations

import traceback
from collections import Counter
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Ops that read a tensor's value on the host: .item(), bool(t), int(t), float(t), t.tolist().
HOST_READS = {"aten::_local_scalar_dense", "aten::equal", "aten::is_nonzero"}
# Ops that make a tensor from host data inside the step: torch.tensor(...) and friends.
HOST_DATA = {"aten::lift_fresh", "aten::lift_fresh_copy"}
TORCH = Path(torch.__file__).resolve().parent


class CaptureIllegal(RuntimeError):
    """An op a CUDA graph cannot capture, with the op's name and the line that issued it."""


def why_illegal(func, args, kwargs) -> str | None:
    """Why ``func`` may not run inside a CUDA graph capture, or None where it may."""
    name = func.name().split(".")[0]
    tags = set(func.tags)
    if name in HOST_READS:
        return "reads a tensor's value on the host (a sync: .item(), bool(), int() or .tolist())"
    if torch.Tag.dynamic_output_shape in tags or torch.Tag.data_dependent_output in tags:
        return "has an output whose shape or value the host must read (data-dependent)"
    if torch.Tag.nondeterministic_seeded in tags:
        return "draws from a random generator (a graph replays the same draws)"
    if name in HOST_DATA:
        return "makes a tensor from host data (a host-to-device copy)"
    if name in ("aten::_to_copy", "aten::copy_"):
        devices = {a.device for a in args if isinstance(a, torch.Tensor)}
        if "device" in kwargs and kwargs["device"] is not None:
            devices.add(torch.device(kwargs["device"]))
        if len({d.type for d in devices}) > 1:
            return f"copies between {' and '.join(sorted(d.type for d in devices))} memory"
    return None


def issued_at() -> str:
    """The innermost line on the stack outside torch and this guard: where the op came from."""
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename).resolve()
        if path != Path(__file__).resolve() and TORCH not in path.parents:
            return f"{path.parent.name}/{path.name}:{frame.lineno} ({frame.line})"
    return "no line outside torch"


class CaptureGuard(TorchDispatchMode):
    """Fails on the first op a CUDA graph cannot capture; counts the ops, syncs and illegal ops
    it saw. ``strict=False`` records them instead of failing (to count a steady state's)."""

    def __init__(self, strict: bool = True):
        super().__init__()
        self.strict, self.ops, self.syncs, self.illegal = strict, Counter(), 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.ops[func.name()] += 1
        why = why_illegal(func, args, kwargs)
        if why is not None:
            self.syncs += func.name().split(".")[0] in HOST_READS
            said = f"{func.name()} {why}, at {issued_at()}"
            if self.strict:
                raise CaptureIllegal(said)
            self.illegal.append(said)
        return func(*args, **kwargs)
