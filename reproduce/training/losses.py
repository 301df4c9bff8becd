"""The loss registry: a name gives a criterion and the output transform it needs.

Each cost function wants the network's output in its own dynamic range (lecture 14:11): NLL
takes log-probabilities, so its criterion applies ``log_softmax`` first; the others take raw
scores. ``nll_raw`` is the negative control that skips that transform.

``lp<p>`` (e.g. ``lp3``) is the lecture's Lp norm, (sum |e|^p)^(1/p) (10:40-11:20), written as
a :class:`torch.autograd.Function` with its own backward (the lecture's closing point, 20:10).
``lpmean<p>`` is the mean of |e|^p, the per-pixel form that ``MSELoss`` is for p = 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class LpFunction(torch.autograd.Function):
    """Lp loss of ``input - target`` with a hand-written backward.

    ``form="norm"``: L = (sum |e|^p)^(1/p);  dL/de = |e|^(p-1) sign(e) * S^(1/p - 1), S = sum |e|^p.
    ``form="mean"``: L = mean |e|^p;         dL/de = p |e|^(p-1) sign(e) / numel.

    The backward is written in differentiable torch ops, so it has a gradient of its own
    (gradgradcheck). At e = 0 the norm has no derivative; the backward returns 0 there.

    Written in torch.func's form (forward, setup_context) so that ``vmap`` can batch it over a
    stack of nets (reproduce.training.stacked): each net's loss is then reduced over its own outputs.

    >>> x = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> LpFunction.apply(x, torch.zeros(2), 2.0, "norm")  # sqrt(1 + 4)
    tensor(2.2361, grad_fn=<LpFunctionBackward>)
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input: torch.Tensor, target: torch.Tensor, p: float, form: str):
        powered = (input - target).abs().pow(p)
        return powered.sum().pow(1.0 / p) if form == "norm" else powered.mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        input, target, p, form = inputs
        ctx.save_for_backward(input, target)
        ctx.p, ctx.form = p, form

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        input, target = ctx.saved_tensors
        p, error = ctx.p, input - target
        # d|e|^p/de / p = |e|^(p-1) sign(e). For p >= 2 it is written e |e|^(p-2), so that its
        # own derivative (double backward) is right at e = 0 too: sign() has zero slope there.
        if p >= 2:
            local = error * error.abs().pow(p - 2)
        else:
            local = error.abs().pow(p - 1) * error.sign()
        if ctx.form == "norm":
            total = error.abs().pow(p).sum()
            scale = torch.where(total > 0, total.pow(1.0 / p - 1.0), torch.zeros_like(total))
        else:
            scale = p / error.numel()  # a Python number: no host-to-device copy (CUDA graphs forbid one)
        grad = grad_output * scale * local
        return grad, (-grad if ctx.needs_input_grad[1] else None), None, None


class LpLoss(nn.Module):
    """``nn.Module`` face of :class:`LpFunction`; p >= 1 (below 1 it is no norm)."""

    def __init__(self, p: float, form: str = "norm"):
        super().__init__()
        if not p >= 1:
            raise ValueError(f"expected p >= 1 for an Lp loss, got p = {p}")
        if form not in ("norm", "mean"):
            raise ValueError(f"expected form 'norm' or 'mean', got {form!r}")
        self.p, self.form = float(p), form

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return LpFunction.apply(input, target, self.p, self.form)

    def extra_repr(self) -> str:
        return f"p={self.p}, form={self.form!r}"


class Criterion(nn.Module):
    """A loss applied to the network's output after the transform that loss needs."""

    def __init__(self, loss: nn.Module, transform: Callable[[torch.Tensor], torch.Tensor] | None):
        super().__init__()
        self.loss, self.transform = loss, transform

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.transform is not None:
            output = self.transform(output)
        return self.loss(output, target)


def _log_softmax(output: torch.Tensor) -> torch.Tensor:
    return F.log_softmax(output, dim=1)


def _multi_margin_per_net(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """MultiMarginLoss of each net in a stack ([nets, batch, classes] -> [nets]). torch has no
    vmap rule for it (vmap would loop over the nets), so the nets' batches are flattened and each
    net's mean taken after."""
    per_sample = F.multi_margin_loss(outputs.flatten(0, 1), targets.flatten(), reduction="none")
    return per_sample.view(targets.shape).mean(1)


@dataclass(frozen=True)
class LossSpec:
    name: str
    task: str  # "regression" (target = input image) or "classification" (target = label)
    title: str  # legend text, as in the notebook's plots
    make_loss: Callable[[], nn.Module]
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    # The loss of each net in a stack, where vmap of the criterion cannot batch it.
    per_net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def criterion(self) -> Criterion:
        return Criterion(self.make_loss(), self.transform)

    def stacked(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The criterion over a stack of nets: outputs and targets [nets, batch, ...] -> [nets],
        each net's loss as :meth:`criterion` computes it, in one batched call.

        >>> out, labels = torch.zeros(3, 2, 10), torch.zeros(3, 2, dtype=torch.long)
        >>> get_loss("nll").stacked()(out, labels)  # log(10) for each of 3 nets
        tensor([2.3026, 2.3026, 2.3026])
        """
        return self.per_net or torch.func.vmap(self.criterion())


_FIXED = {
    spec.name: spec
    for spec in (
        LossSpec("mse", "regression", "Mean Square Error", nn.MSELoss),
        LossSpec("l1", "regression", "L1 Loss", nn.L1Loss),
        LossSpec("ce", "classification", "Cross Entropy Loss", nn.CrossEntropyLoss),
        LossSpec("nll", "classification", "Negative Log Likelihood Loss", nn.NLLLoss, _log_softmax),
        LossSpec(
            "multimargin",
            "classification",
            "Multi Margin Loss",
            nn.MultiMarginLoss,
            per_net=_multi_margin_per_net,
        ),
        LossSpec("nll_raw", "classification", "NLL on raw scores (control)", nn.NLLLoss),
    )
}
_LP = re.compile(r"^lp(mean)?(\d+(?:\.\d+)?)$")


def get_loss(name: str) -> LossSpec:
    """The registry entry for ``name``; an unknown name lists what is allowed.

    >>> get_loss("nll").criterion()(torch.zeros(1, 10), torch.tensor([3])).item()  # log(10)
    2.302585...
    """
    if name in _FIXED:
        return _FIXED[name]
    match = _LP.match(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(
            f"unknown loss {name!r}; expected one of {', '.join(_FIXED)}, "
            "lp<p> (the Lp norm, p >= 1, e.g. lp3) or lpmean<p> (mean |e|^p, e.g. lpmean3)"
        )
    form, p = ("mean" if match.group(1) else "norm"), float(match.group(2))
    if p < 1:
        raise ValueError(f"expected p >= 1 in loss {name!r}, got p = {p:g}")
    title = f"L{p:g} {'mean' if form == 'mean' else 'norm'}"
    return LossSpec(name, "regression", title, lambda: LpLoss(p, form))
