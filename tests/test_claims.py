"""Every claim of Lecture 22 as a test: its measured verdict must be the expected one.

A claim expected to be refuted is asserted refuted, so a dependency bump that flips a verdict
either way fails here. The evidence (numbers over seeds) is in the failure message. Trained
claims run in each (dataset, scale) setting the session chose (see the root conftest).
"""

import pytest

from reproduce.judging.claims import CLAIMS

TRAINED = [pytest.param(c, id=c.name) for c in CLAIMS if c.families]
UNTRAINED = [pytest.param(c, id=c.name) for c in CLAIMS if not c.families]


@pytest.mark.parametrize("claim", TRAINED)
def test_claim(claim, dataset, scale, device, study_of):
    judgement = claim.judge(study_of(dataset, scale, device, claim.families))
    assert judgement.as_expected, judgement.explain()


@pytest.mark.parametrize("claim", UNTRAINED)
def test_claim_without_training(claim):
    judgement = claim.judge(None)
    assert judgement.as_expected, judgement.explain()
