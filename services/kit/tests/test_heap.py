"""The startup heap frozen once per process (kit.heap)."""

from __future__ import annotations

import gc
import weakref

from kit import heap


def test_startup_heap_is_frozen_once_per_process() -> None:
    heap.freeze_startup_heap()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert heap.freeze_startup_heap() is False  # a second service start in this process
    assert gc.get_freeze_count() == frozen


class Node:
    me: Node | None = None


def test_a_grown_heap_is_frozen_without_its_garbage() -> None:
    heap.freeze_startup_heap()
    before = gc.get_freeze_count()
    kept = [Node() for _ in range(10_000)]  # long-lived: a catalogue's new entries
    cycle = Node()
    cycle.me = cycle  # garbage only the collector finds
    gone = weakref.ref(cycle)
    del cycle
    heap.freeze_grown()
    assert gone() is None  # collected, not frozen with the rest
    assert gc.get_freeze_count() >= before + len(kept)
