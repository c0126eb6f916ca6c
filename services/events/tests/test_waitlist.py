"""Seat allocation and promotion rules (pure functions, no store)."""

from __future__ import annotations

from events.waitlist import Seats, allocate, promotable


def test_confirms_until_full_then_waitlists_in_order() -> None:
    outcomes, after = allocate(Seats(capacity=3, taken=1, waiting=0, sequence=0), [1, 1, 1, 1])
    assert [o.confirmed for o in outcomes] == [True, True, False, False]
    assert [(o.sequence, o.place) for o in outcomes[2:]] == [(1, 1), (2, 2)]
    assert after == Seats(capacity=3, taken=3, waiting=2, sequence=2)


def test_nobody_jumps_the_queue() -> None:
    # One seat free but a group of 3 waits at the head: a newcomer of 1 waits behind it.
    outcomes, after = allocate(Seats(capacity=10, taken=9, waiting=1, sequence=4), [1])
    assert outcomes[0].confirmed is False and outcomes[0].sequence == 5
    assert outcomes[0].place == 2 and after.taken == 9


def test_group_that_does_not_fit_waits_whole() -> None:
    outcomes, after = allocate(Seats(capacity=5, taken=3, waiting=0, sequence=0), [3, 2])
    assert [o.confirmed for o in outcomes] == [False, False]  # the 2 may not pass the 3
    assert after.taken == 3 and after.waiting == 2


def test_unlimited_capacity_confirms_everyone() -> None:
    outcomes, after = allocate(Seats(capacity=None, taken=500, waiting=0, sequence=0), [4] * 3)
    assert all(o.confirmed for o in outcomes) and after.taken == 512


def test_promotion_takes_the_head_while_it_fits() -> None:
    assert promotable(10, 8, [1, 1, 1]) == 2
    assert promotable(10, 7, [4, 1]) == 0  # the head group does not fit: nobody skips it
    assert promotable(None, 100, [3, 3]) == 2
    assert promotable(10, 10, []) == 0
