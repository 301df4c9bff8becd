"""Every claim of Lecture 22 as a test: its measured verdict must be the expected one.

A claim expected to be refuted is asserted refuted, so a dependency bump that flips a verdict
either way fails here. The evidence (numbers over seeds) is in the failure message.
"""

import pytest

from reproduce.claims import CLAIMS

TRAINED = [pytest.param(c, id=c.name) for c in CLAIMS if c.families]
UNTRAINED = [pytest.param(c, id=c.name) for c in CLAIMS if not c.families]


def assert_verdict(claim, evidence):
    assert evidence.verdict == claim.expected, (
        f"{claim.name} ({claim.at}) was expected {claim.expected} but measured "
        f"{evidence.verdict}.\n  lecture: {claim.quote!r}\n  reading: {claim.reading}\n"
        f"  evidence: {evidence.summary}"
    )


@pytest.mark.parametrize("claim", TRAINED)
def test_claim(claim, scale, device, study_of):
    assert_verdict(claim, claim.evaluate(study_of(scale, device, claim.families)))


@pytest.mark.parametrize("claim", UNTRAINED)
def test_claim_without_training(claim):
    assert_verdict(claim, claim.evaluate(None))
