"""Small experiments that judge a claim directly, not from the study's trained runs.

A8 and B8 ask whether the Lp loss is differentiable (gradcheck, one-sided slopes at e = 0);
A9 asks what the Lp loss costs against MSE (timed ratios). The checks in ``reproduce.judging.claims``
only read what these return. Timing uses the trainer's own ``train_step``, so the step timed
is the step trained.
"""

from __future__ import annotations

import functools
import time

import torch

from reproduce.training.config import RunConfig
from reproduce.training.experiments import build_replicas
from reproduce.training.losses import LpLoss, get_loss
from reproduce.training.pool import one_thread
from reproduce.training.train import train_step

GRADCHECK_PS = (1.5, 2.0, 3.0, 4.0, 5.0)


def lp_gradients_agree(ps=GRADCHECK_PS) -> dict[str, bool]:
    """gradcheck and gradgradcheck in float64 of both Lp forms, at points with zero errors too."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(4, 6, dtype=torch.float64, generator=g)
    input = target + torch.randn(4, 6, dtype=torch.float64, generator=g)
    input[0, :3] = target[0, :3]  # exact zeros of the error: where |e| has a kink
    input.requires_grad_(True)
    passed = {}
    for p in ps:
        for form in ("norm", "mean"):
            fn = functools.partial(LpLoss(p, form), target=target)
            first = torch.autograd.gradcheck(fn, (input,), raise_exception=False)
            # Below p = 2 the second derivative p(p-1)|e|^(p-2) is infinite at e = 0.
            second = p < 2 or torch.autograd.gradgradcheck(fn, (input,), raise_exception=False)
            passed[f"p={p:g} {form}"] = bool(first and second)
    return passed


def one_sided_slopes_at_zero(p: float, h: float = 1e-6) -> tuple[float, float]:
    """Right and left difference quotients of |e|^p at e = 0: equal iff differentiable there."""
    zero = torch.zeros(1, dtype=torch.float64)

    def f(e: float) -> float:
        return LpLoss(p, "mean")(torch.tensor([e], dtype=torch.float64), zero).item()

    return (f(h) - f(0.0)) / h, (f(0.0) - f(-h)) / h


def lp_differentiability() -> dict:
    """A8's measurements: gradcheck per (p, form) and the one-sided slopes for p = 1 and 3."""
    return {
        "gradcheck": lp_gradients_agree(),
        "p1_slopes_at_0": list(one_sided_slopes_at_zero(1.0)),
        "p3_slopes_at_0": list(one_sided_slopes_at_zero(3.0)),
    }


def lp3_gradcheck() -> dict:
    """B8's measurement: gradcheck and gradgradcheck of the Lp(p=3) loss, both forms."""
    return {"gradcheck": lp_gradients_agree(ps=(3.0,))}


def _seconds_per_call(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def lp_cost_ratios(batch: int = 100, rounds: int = 7) -> dict[str, float]:
    """Lp(p=3)/MSE time ratios: the loss alone (forward+backward) and a whole Adam step.

    The two sides are timed in alternation and each keeps its fastest round: the fastest
    round is the one least disturbed by other work on the machine (an xdist neighbour).
    """
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 784, generator=g)
    out = torch.rand(batch, 784, generator=g).requires_grad_(True)
    criteria = {name: get_loss(name).criterion() for name in ("mse", "lp3")}

    def loss_only(name):
        return lambda: criteria[name](out, x).backward()

    def step(name):
        (replica,) = build_replicas(RunConfig.at_scale("regression", losses=(name,)))  # as trained
        return lambda: train_step(replica.net, replica.optimizer, replica.criterion, x, x)

    ratios = {}
    with one_thread():  # as every run trains (reproduce.training.pool)
        for kind, make, calls in (("loss", loss_only, 200), ("step", step, 20)):
            fns = {name: make(name) for name in criteria}
            fastest = {name: _seconds_per_call(fn, calls) for name, fn in fns.items()}  # warm-up
            for _ in range(rounds):
                for name, fn in fns.items():
                    fastest[name] = min(fastest[name], _seconds_per_call(fn, calls))
            ratios[kind] = fastest["lp3"] / fastest["mse"]
    return ratios
