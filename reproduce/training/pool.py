"""Runs trained side by side: one process per core, each with one torch thread.

A run's bits depend on torch's thread count (1 and 2 threads drift apart by up to 1.2e-4 in SSIM
over the lecture's 6000 steps), so every run trains with one thread wherever it trains: the
CLI's processes here and the test suite's xdist workers alike, and a run one of them trained
serves the other from the run cache. Parallelism comes from processes instead: the lecture's
matrices are small (100 x 784), and two threads on one run made it only 1.2-1.9x faster than
one (AMD EPYC, 2 cores, varying from minute to minute), while two runs side by side share
nothing.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")


def default_workers() -> int:
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def one_thread():
    """torch's intra-op threads set to 1 inside, as a run trains; restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def each(fn: Callable[[Item], Result], items: Iterable[Item], *, workers: int) -> Iterator[Result]:
    """``fn(item)`` for every item, as each finishes, in up to ``workers`` processes.

    Each process trains with one thread. ``fn`` and the items must pickle (module-level
    functions, ``functools.partial``). An item that fails does not stop the others: every
    result is yielded (and so can be saved) before the first error is raised, as it was raised.
    """
    items, errors = list(items), []
    if workers <= 1 or len(items) <= 1:
        with one_thread():
            for item in items:
                try:
                    result = fn(item)
                except Exception as error:
                    errors.append(error)
                    continue
                yield result
    else:
        spawn = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
        processes = min(workers, len(items))
        one_thread_each = {"initializer": torch.set_num_threads, "initargs": (1,)}
        with ProcessPoolExecutor(processes, mp_context=spawn, **one_thread_each) as pool:
            for future in as_completed([pool.submit(fn, item) for item in items]):
                if future.exception() is not None:
                    errors.append(future.exception())
                    continue
                yield future.result()
    if errors:
        raise errors[0]
