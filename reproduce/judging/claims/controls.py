"""The claims' negative controls: each breaks, in place, a study (or a probe's measurement) the
claim holds on, and its check must then say "refuted" (tests/test_claim_checks.py). One function
per claim, named for what it does, so a reader sees the edit, not a lambda.
"""

from __future__ import annotations

from collections.abc import Callable

from reproduce.training.config import LECTURE_LOSSES
from reproduce.training.study import Study


def l1_ends_untrained(study: Study) -> None:
    """A1's control: every L1 net's final SSIM is its untrained net's."""
    for h in study.histories("regression", "l1"):
        h.metrics["ssim"][-1] = h.untrained["ssim"]


def mse_loss_barely_falls(study: Study) -> None:
    """A2's control: every MSE net's last-epoch training loss is 95 % of its first epoch's."""
    for h in study.histories("regression", "mse"):
        h.train_loss[-1] = h.train_loss[0] * 0.95


def one_ssim_curve_falls(study: Study) -> None:
    """A3's control: the second seed's MSE net's SSIM curve, reversed."""
    study.histories("regression", "mse")[1].metrics["ssim"].reverse()


def l1_starts_at_075(study: Study) -> None:
    """A4's control: every L1 net's epoch-1 SSIM (the notebook's protocol) is 0.75."""
    for h in study.histories("regression", "l1"):
        h.metrics["ssim_lecture"][0] = 0.75


def same_start(measure: str, value: float) -> Callable[[Study], None]:
    """A5's and B3's negative control: every net, replays too, starts at one value of ``measure``,
    so the replays still agree and the starts no longer differ."""

    def control(study: Study) -> None:
        for result in study.results:
            for h in result.histories.values():
                h.untrained[measure] = value

    return control


def l1_leads_once(study: Study) -> None:
    """A6's control: the first seed's L1 net's SSIM at epoch 5 is 0.99, above MSE's."""
    study.histories("regression", "l1")[0].metrics["ssim"][4] = 0.99


def lp5_ends_at_mae_03(study: Study) -> None:
    """A7's control: every p = 5 net's final test MAE is 0.3."""
    for h in study.histories("regression", "lp5"):
        h.metrics["mae"][-1] = 0.3


def nll_raw_ends_at_96(study: Study) -> None:
    """B1's control: every NLL-on-raw-scores net's final accuracy is 96 %."""
    for h in study.histories("classification", "nll_raw"):
        h.metrics["accuracy"][-1] = 96.0


def accuracy_flat_at_90(study: Study) -> None:
    """B2's control: every lecture classifier's accuracy is 90 % at every epoch."""
    for loss in LECTURE_LOSSES["classification"]:
        for h in study.histories("classification", loss):
            h.metrics["accuracy"] = [90.0] * len(h.train_loss)


def shared_init_nll_off_once(study: Study) -> None:
    """B4's control: every shared-init NLL net's epoch-4 training loss is 1 % higher."""
    for h in study.histories("shared_init", "nll"):
        h.train_loss[3] *= 1.01


def multimargin_loss_as_ce(study: Study) -> None:
    """B5's control: every MultiMargin net's training-loss curve is its seed's CE curve."""
    for h, ce in zip(
        study.histories("classification", "multimargin"), study.histories("classification", "ce")
    ):
        h.train_loss[:] = ce.train_loss


def one_accuracy_curve_falls(study: Study) -> None:
    """B6's control: the first seed's NLL net's accuracy curve, reversed."""
    study.histories("classification", "nll")[0].metrics["accuracy"].reverse()


def multimargin_ends_highest(study: Study) -> None:
    """B7's control: every MultiMargin net's final training loss is 5.0, above CE's and NLL's."""
    for h in study.histories("classification", "multimargin"):
        h.train_loss[-1] = 5.0


def a_slope_turns_negative(probed: dict) -> None:
    """A8's control: the p = 3 loss's second one-sided slope at 0 measured as -1."""
    probed["p3_slopes_at_0"][1] = -1.0


def a_step_twice_as_slow(ratios: dict) -> None:
    """A9's control: an Lp training step measured at twice an MSE step's time."""
    ratios["step"] = 2.0


def lp3_loss_flat(study: Study) -> None:
    """B8's control: every p = 3 net's last-epoch training loss equals its first epoch's."""
    for h in study.histories("regression", "lp3"):
        h.train_loss[-1] = h.train_loss[0]
