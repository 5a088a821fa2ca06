"""map_adaptive: per-item work in this thread while it is quick, on threads once it is slow."""

from __future__ import annotations

import threading
import time

import pytest

from lamin_flows._parallel import map_adaptive


def test_quick_items_stay_in_the_calling_thread() -> None:
    seen: set[int] = set()

    def work(i: int) -> int:
        seen.add(threading.get_ident())
        return i * 2

    assert map_adaptive(work, list(range(500)), workers=4, slow_s=0.01) == [i * 2 for i in range(500)]
    assert seen == {threading.get_ident()}


def test_slow_items_move_to_threads_and_keep_their_order() -> None:
    seen: set[int] = set()
    done: list[int] = []

    def work(i: int) -> int:
        seen.add(threading.get_ident())
        time.sleep(0.005)
        return i

    results = map_adaptive(work, list(range(60)), workers=4, slow_s=0.001, advance=done.append)
    assert results == list(range(60))
    assert len(seen) > 1  # the pool took over
    assert sum(done) == 60  # the progress bar saw every item once


def test_an_error_stops_the_work() -> None:
    calls: list[int] = []

    def work(i: int) -> int:
        calls.append(i)
        if i == 3:
            raise ValueError("item 3 is bad")
        return i

    with pytest.raises(ValueError, match="item 3"):
        map_adaptive(work, list(range(100)), workers=2, slow_s=0.01)
    assert calls == [0, 1, 2, 3]
