"""The loss registry, and LpLoss's hand-written backward against autograd (float64)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reproduce.training.losses import LpLoss, get_loss


def reference_lp(input, target, p, form):
    """The same loss in plain torch ops, differentiated by autograd: the independent reference."""
    powered = (input - target).abs() ** p
    return powered.sum() ** (1 / p) if form == "norm" else powered.mean()


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(5, 7, dtype=torch.float64, generator=g)
    input = (target + 0.3 * torch.randn(5, 7, dtype=torch.float64, generator=g)).requires_grad_()
    return input, target


@pytest.mark.parametrize("form", ["norm", "mean"])
@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0, 4.0, 5.0])
def test_lp_forward_and_backward_match_autograd(pair, p, form):
    input, target = pair
    ours = LpLoss(p, form)(input, target)
    (grad,) = torch.autograd.grad(ours, input)
    ref = reference_lp(input, target, p, form)
    (ref_grad,) = torch.autograd.grad(ref, input)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-12)


def test_lp_special_cases_are_the_familiar_losses(pair):
    input, target = pair
    torch.testing.assert_close(get_loss("lpmean2").criterion()(input, target), F.mse_loss(input, target))
    torch.testing.assert_close(get_loss("lpmean1").criterion()(input, target), F.l1_loss(input, target))
    torch.testing.assert_close(
        get_loss("lp2").criterion()(input, target), torch.linalg.vector_norm(input - target)
    )


def test_lp_norm_backward_is_zero_at_a_perfect_reconstruction():
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    LpLoss(3)(x, torch.zeros(3, dtype=torch.float64)).backward()
    assert torch.equal(x.grad, torch.zeros(3, dtype=torch.float64))


def test_lp_backward_reaches_the_target_too(pair):
    input, target = pair
    target = target.clone().requires_grad_()
    LpLoss(3)(input, target).backward()
    torch.testing.assert_close(target.grad, -input.grad)


def test_nll_gets_log_softmax_and_then_equals_cross_entropy():
    scores, labels = torch.randn(8, 10), torch.randint(0, 10, (8,))
    nll = get_loss("nll").criterion()(scores, labels)
    torch.testing.assert_close(nll, get_loss("ce").criterion()(scores, labels))
    assert get_loss("nll_raw").transform is None  # the negative control skips it


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("mse", nn.MSELoss),
        ("l1", nn.L1Loss),
        ("ce", nn.CrossEntropyLoss),
        ("nll", nn.NLLLoss),
        ("multimargin", nn.MultiMarginLoss),
        ("lp3", LpLoss),
    ],
)
def test_registry_builds_the_notebooks_criteria(name, kind):
    assert isinstance(get_loss(name).criterion().loss, kind)


def test_multimargin_uses_its_defaults():
    loss = get_loss("multimargin").criterion().loss
    assert (loss.p, loss.margin) == (1, 1.0)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        (
            "huber",
            r"unknown loss 'huber'; expected one of mse, l1, ce, nll, multimargin, nll_raw, lp<p>",
        ),
        ("lp", r"unknown loss 'lp'"),
        ("lp0.5", r"expected p >= 1 in loss 'lp0.5', got p = 0.5"),
        ("lpmean0", r"expected p >= 1 in loss 'lpmean0', got p = 0"),
    ],
)
def test_bad_names_list_what_is_allowed(name, match):
    with pytest.raises(ValueError, match=match):
        get_loss(name)


def test_lp_loss_rejects_p_below_one_and_unknown_forms():
    with pytest.raises(ValueError, match=r"expected p >= 1 for an Lp loss, got p = 0.5"):
        LpLoss(0.5)
    with pytest.raises(ValueError, match=r"expected form 'norm' or 'mean', got 'max'"):
        LpLoss(2, "max")
