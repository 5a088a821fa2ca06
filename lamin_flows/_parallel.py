"""Running per-file work on a thread pool in batches, or in this thread while that is faster.

A future per item costs ~20 µs and wakes a thread per item; for small local files that is more
than the work itself (hashing or linking 1 KiB), and the threads then mostly hand the GIL to
each other. Batches keep the pool for what it is good at (overlapping network and disk waits,
hashing large files, which releases the GIL) at a fraction of the cost per item.

For a local disk even batches lose: 10,000 files of 1 KiB copied in took 1.7 s on 8 threads and
0.5 s in one (on tmpfs, where only the CPU counts), because every system call hands the GIL over.
:func:`map_adaptive` therefore starts in the calling thread and moves the rest to the pool only
once items turn out slow on average (large files, network filesystems).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 64
ADVANCE_EVERY = 64  # items between progress-bar updates in the calling thread


def batches(items: Sequence[T], workers: int) -> list[Sequence[T]]:
    """Consecutive slices of ``items``: at most 64 items, and at least ~4 slices per worker.

    Example:
        >>> [len(b) for b in batches(list(range(10)), workers=2)]
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    """
    size = max(1, min(MAX_BATCH, len(items) // (4 * max(1, workers))))
    return [items[i : i + size] for i in range(0, len(items), size)]


def map_batched(func: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[list[R]]:
    """``func`` over ``items`` on ``workers`` threads, in batches; yields each batch's results in order.

    An exception in ``func`` stops its batch and is raised when that batch's turn comes; the other
    batches still run to the end (as with ``ThreadPoolExecutor.map``).

    Example:
        >>> [r for batch in map_batched(abs, [-1, -2], workers=2) for r in batch]
        [1, 2]
    """

    def run(batch: Sequence[T]) -> list[R]:
        return [func(item) for item in batch]

    with ThreadPoolExecutor(workers) as pool:
        yield from pool.map(run, batches(items, workers))


def map_adaptive(
    func: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    *,
    slow_s: float,
    advance: Callable[[int], None] | None = None,
) -> list[R]:
    """``func`` over ``items`` in this thread while they take less than ``slow_s`` each on average;
    the rest on ``workers`` threads (:func:`map_batched`). Results keep the order of ``items``.

    Args:
        func: The per-item work; an exception stops the work and propagates.
        items: What to work on.
        workers: Threads for the slow rest.
        slow_s: The average seconds per item from which threads pay off (with slack for eight
            items, so one hiccup of a busy machine does not count).
        advance: Called with the number of items done, for a progress bar.

    Example:
        >>> map_adaptive(abs, [-1, -2, 3], workers=2, slow_s=0.001)
        [1, 2, 3]
    """
    results: list[R] = []
    start = time.perf_counter()
    for item in items:
        results.append(func(item))
        if advance is not None and len(results) % ADVANCE_EVERY == 0:
            advance(ADVANCE_EVERY)
        if time.perf_counter() - start > slow_s * (len(results) + 8):
            break
    if advance is not None:
        advance(len(results) % ADVANCE_EVERY)
    if len(results) < len(items):
        for batch in map_batched(func, items[len(results) :], workers):
            results.extend(batch)
            if advance is not None:
                advance(len(batch))
    return results
