"""reproduce.training.pool: every item's result, the first error only after the rest, one thread each."""

import pytest
import torch

from reproduce.training import pool


@pytest.mark.parametrize("workers", [1, 2])
def test_every_result_comes_back_before_the_first_error(workers):
    """A run that fails (a NaN) must not lose the runs beside it: each is yielded, then saved."""
    got = []
    with pytest.raises(ValueError, match="invalid literal for int"):
        for result in pool.each(int, ["1", "x", "3", "4"], workers=workers):
            got.append(result)
    assert sorted(got) == [1, 3, 4]


def test_one_thread_inside_and_the_callers_threads_after():
    before = torch.get_num_threads()
    with pool.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
