"""The lecture's claims, one entry each, grouped by the part of the lecture they come from.

Part A (autoencoders) is in ``autoencoders.py``, part B (classifiers) in ``classifiers.py``,
and the claims about the lecture's own Lp cost function (A8, A9, B8) in ``lp_loss.py``.
Each entry holds the lecture's words, the precise reading, bounds per setting with the
measurement behind each, its check and its negative control: adding a claim is one entry in
one of those files. A claim that does not reproduce stays, with ``expected=REFUTED`` and its
evidence, so a dependency bump that flips it is caught. Timestamps are the transcript's
(shared/lecture/lecture-22-cost-functions-transcript.txt).
"""

from __future__ import annotations

from reproduce.judging.claims.autoencoders import AUTOENCODER_CLAIMS
from reproduce.judging.claims.claim import Bounds, Claim, Judgement
from reproduce.judging.claims.classifiers import CLASSIFIER_CLAIMS
from reproduce.judging.claims.lp_loss import LP_LOSS_CLAIMS

CLAIMS: tuple[Claim, ...] = tuple(
    sorted(AUTOENCODER_CLAIMS + LP_LOSS_CLAIMS + CLASSIFIER_CLAIMS, key=lambda c: (c.id[0], int(c.id[1:])))
)
BY_ID = {claim.id: claim for claim in CLAIMS}


def families_needed(claims=CLAIMS) -> tuple[str, ...]:
    """The study families the given claims read, in the study's order."""
    from reproduce.training.study import FAMILIES

    needed = {f for claim in claims for f in claim.families}
    return tuple(f for f in FAMILIES if f in needed)


__all__ = ["BY_ID", "CLAIMS", "Bounds", "Claim", "Judgement", "families_needed"]
