"""The lecture's claims as data: what is said, where, how it is checked, and what we expect.

Adding a claim is adding one entry here (plus, at most, one check in checks.py). The tests
and the claims report both read this list. A claim that does not reproduce stays, with
``expected=REFUTED`` and its evidence, so a dependency bump that flips it is caught.
Timestamps are the transcript's (shared/lecture/lecture-22-cost-functions-transcript.txt).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reproduce import checks
from reproduce.evidence import REFUTED, REPRODUCED, Evidence
from reproduce.study import Study


@dataclass(frozen=True)
class Claim:
    id: str  # "A1" ... "B8", as in CLAIMS.md
    slug: str  # a few words; with the id it names the test
    at: str  # where the lecture says it
    quote: str  # the lecture's words, lightly trimmed
    reading: str  # what exactly is checked, where the lecture is vague
    check: Callable[[Study], Evidence]
    expected: str | dict[str, str]  # REPRODUCED or REFUTED (per scale where they differ)
    families: tuple[str, ...] = ()  # study runs it reads; () = needs no training

    @property
    def name(self) -> str:
        return f"{self.id}-{self.slug}"

    def expected_at(self, scale: str | None) -> str:
        """The verdict measurement led us to expect at this scale."""
        if isinstance(self.expected, str):
            return self.expected
        return self.expected[scale]

    def evaluate(self, study: Study | None) -> Evidence:
        return self.check(study)

    def judge(self, study: Study | None) -> Judgement:
        """Measure the claim on the study and set the verdict beside the expected one."""
        evidence = self.evaluate(study if self.families else None)
        return Judgement(self, evidence, self.expected_at(study.scale if study else None))


@dataclass(frozen=True)
class Judgement:
    claim: Claim
    evidence: Evidence
    expected: str

    @property
    def as_expected(self) -> bool:
        return self.evidence.verdict == self.expected

    def explain(self) -> str:
        c = self.claim
        return (
            f"{c.name} ({c.at}) was expected {self.expected} and measured "
            f"{self.evidence.verdict}.\n  lecture: {c.quote!r}\n  reading: {c.reading}\n"
            f"  evidence: {self.evidence.summary}"
        )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "A1",
        "l1-usable",
        "00:26-01:51",
        "You can also use something called as a l one loss ... absolute error",
        "Both the MSE- and the L1-trained autoencoder reconstruct: every seed's final test SSIM "
        "(robust protocol) exceeds the untrained net's by at least the bound.",
        checks.l1_usable,
        REPRODUCED,
        ("regression",),
    ),
    Claim(
        "A2",
        "loss-goes-down",
        "09:13",
        "it has trained out for 10 epochs and ... the training loss has significantly gone down",
        "For MSE and L1, every seed's last-epoch mean training loss is at most the bound times "
        "its first epoch's.",
        checks.loss_goes_down,
        REPRODUCED,
        ("regression",),
    ),
    Claim(
        "A3",
        "quality-improves",
        "09:24",
        "as the loss comes down ... the total quality of the image going better and better",
        "Per seed, test SSIM rises with epochs and test MAE falls: Spearman's rho of the curve "
        "against epoch is >= the bound (SSIM) and <= -bound (MAE).",
        checks.quality_improves,
        REPRODUCED,
        ("regression",),
    ),
    Claim(
        "A4",
        "ssim-starts-near-0.4",
        "09:24",
        "it starts somewhere in around 0.4 in both the cases ... and then it goes up",
        "The notebook's protocol (first test image, skimage defaults, data_range 2.0) after "
        "epoch 1: seed mean inside the band for MSE and for L1; the robust protocol beside it.",
        checks.ssim_starts_near_04,
        REPRODUCED,
        ("regression",),
    ),
    Claim(
        "A5",
        "different-inits-autoencoder",
        "09:50",
        "both have 2 different points of starting ... for the reason that they were randomly initialised",
        "In every seed the two nets' untrained and epoch-1 SSIM differ; a separate run of the "
        "same seed gives bit-identical curves.",
        checks.autoencoder_inits_differ,
        REPRODUCED,
        ("regression", "replicate"),
    ),
    Claim(
        "A6",
        "mse-converges-better",
        "10:05-10:40",
        "mean square error ... has a higher propensity of coming to a convergence",
        "MSE-trained test SSIM above L1-trained at every epoch of every seed (MAE reported). "
        "At lecture scale it holds from epoch 1 on; at smoke scale (180 steps) L1 still leads, "
        "so the verdict there is refuted, as measured.",
        checks.mse_converges_better,
        {"lecture": REPRODUCED, "smoke": REFUTED},
        ("regression",),
    ),
    Claim(
        "A7",
        "higher-p-converges-better",
        "10:40-11:00",
        "raise to the third power or fourth power or fifth power, you would see even this curve "
        "going down much steeper and coming down to a much better convergence",
        "For each p in 3, 4, 5, in every seed: steeper (epoch-1 test SSIM above MSE's) and a "
        "better convergence (final test SSIM above and final test MAE below MSE's). Measured: "
        "p = 3 starts steeper but converges below MSE; higher p is worse still: refuted.",
        checks.higher_p_converges_better,
        REFUTED,
        ("regression",),
    ),
    Claim(
        "A8",
        "lp-differentiable",
        "11:00-11:20",
        "whichever norm you take you need to see that it is differentiable ... anything higher "
        "than the quadratic order is always differentiable",
        "gradcheck and gradgradcheck (float64) pass for the Lp loss, p in 1.5..5, both forms, at "
        "points with zero errors; one-sided slopes at e=0 agree for p=3 and differ for p=1.",
        checks.lp_differentiable,
        REPRODUCED,
    ),
    Claim(
        "A9",
        "lp-a-bit-slower",
        "11:20-12:00",
        "this cube root computation ... is computationally complex ... a bit slow, not much",
        "Timed in one process: the Lp(p=3) loss alone costs at least the first bound times "
        "MSE's; a whole training step at most the second bound times MSE's.",
        checks.lp_a_bit_slower,
        REPRODUCED,
    ),
    Claim(
        "B1",
        "nll-needs-log-softmax",
        "14:11-15:07",
        "for each cost function your output of the network needs to be in a particular dynamic "
        "range ... I need to have a log soft max of my output",
        "NLL on log_softmax reaches the accuracy bound in every seed; NLL on raw scores "
        "(negative control) stays near chance.",
        checks.nll_needs_log_softmax,
        REPRODUCED,
        ("classification",),
    ),
    Claim(
        "B2",
        "accuracy-91-to-97",
        "17:20",
        "it starts from around 91 percent and then keeps on going pretty steadily to come down "
        "to about 97 percent for most of these cases",
        "For at least 2 of the 3 losses the seed mean of epoch-1 test accuracy is in the first "
        "band ('around 91') and of the last epoch in the second ('about 97').",
        checks.accuracy_91_to_97,
        REPRODUCED,
        ("classification",),
    ),
    Claim(
        "B3",
        "different-inits-classifier",
        "17:20-18:11",
        "3 different networks just got initialized randomly, and they were not replica copies",
        "In every seed the three nets' untrained and epoch-1 accuracies differ; a separate run "
        "of the same seed (the shared-init run's CE net) gives bit-identical curves.",
        checks.classifier_inits_differ,
        REPRODUCED,
        ("classification", "shared_init"),
    ),
    Claim(
        "B4",
        "ce-equals-nll",
        "18:11",
        "negative log likelihood and cross entropy ... boil down to the same cost function ... "
        "one curve is below the other",
        "From one shared init the CE and NLL loss curves agree to float precision; from "
        "independent inits their seed means differ by at most the bound in seed sds.",
        checks.ce_equals_nll,
        REPRODUCED,
        ("classification", "shared_init"),
    ),
    Claim(
        "B5",
        "multimargin-distinct",
        "18:11",
        "you can pretty much have a distinct curve for multi margin loss",
        "MultiMargin's mean loss curve is at least the bound times farther from CE's than NLL's is.",
        checks.multimargin_distinct,
        REPRODUCED,
        ("classification",),
    ),
    Claim(
        "B6",
        "accuracy-increases",
        "18:50",
        "the accuracy keeps on steadily increasing",
        "Per seed and loss, Spearman's rho of test accuracy against epoch is >= the bound.",
        checks.accuracy_increases,
        REPRODUCED,
        ("classification",),
    ),
    Claim(
        "B7",
        "least-loss-not-best-accuracy",
        "19:20",
        "all 3 of them have almost a comparable accuracy ... whereas just by using a Multi "
        "Margin Loss, I was getting down a lower loss",
        "In every seed MultiMargin's final training loss is below CE's and NLL's, while the "
        "three final mean accuracies lie within the band.",
        checks.least_loss_not_best_accuracy,
        REPRODUCED,
        ("classification",),
    ),
    Claim(
        "B8",
        "custom-backward-trains",
        "20:10",
        "the moment you have a function whose forward and backward is defined ... you can use "
        "it as a cost function",
        "The Lp(p=3) loss, an autograd.Function with a hand-written backward, passes gradcheck, "
        "and the autoencoder it trains lowers its loss and gains SSIM by the bounds.",
        checks.custom_backward_trains,
        REPRODUCED,
        ("regression",),
    ),
)

BY_ID = {claim.id: claim for claim in CLAIMS}


def families_needed(claims=CLAIMS) -> tuple[str, ...]:
    """The study families the given claims read, in the study's order."""
    from reproduce.study import FAMILIES

    needed = {f for claim in claims for f in claim.families}
    return tuple(f for f in FAMILIES if f in needed)
