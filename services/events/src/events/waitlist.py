"""Seat allocation and waiting-list promotion: pure rules, no I/O.

The waiting list is strictly first come, first served: nobody gets a seat while someone
registered earlier is still waiting, and a group at the head of the list is not skipped
for a smaller group behind it (seats stay free until the head fits or leaves).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Seats:
    """An event's seat state as stored on its document."""

    capacity: int | None  # None: unlimited
    taken: int
    waiting: int  # registrations on the waiting list now
    sequence: int  # last waiting-list sequence number handed out

    @property
    def free(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.taken)


@dataclass(frozen=True)
class Outcome:
    confirmed: bool
    sequence: int | None = None  # waiting-list order key
    place: int | None = None  # place in the list when added (1 = next in line)


def allocate(seats: Seats, requests: list[int]) -> tuple[list[Outcome], Seats]:
    """Outcomes for sign-ups of `requests[i]` seats each, in arrival order."""
    taken, waiting, sequence = seats.taken, seats.waiting, seats.sequence
    outcomes = []
    for wanted in requests:
        fits = seats.capacity is None or taken + wanted <= seats.capacity
        if fits and waiting == 0:
            taken += wanted
            outcomes.append(Outcome(confirmed=True))
        else:
            sequence += 1
            waiting += 1
            outcomes.append(Outcome(confirmed=False, sequence=sequence, place=waiting))
    return outcomes, Seats(seats.capacity, taken, waiting, sequence)


def promotable(capacity: int | None, taken: int, waiting_seats: list[int]) -> int:
    """How many from the head of the waiting list (their seat counts, in order) get seats."""
    count = 0
    for wanted in waiting_seats:
        if capacity is not None and taken + wanted > capacity:
            break
        taken += wanted
        count += 1
    return count
