"""Check-in passes: random, typed forgivingly, of one kind."""

from __future__ import annotations

import pytest

from kit.passes import BOOKING, REGISTRATION, new_pass, parse


def test_passes_are_random_and_parse_back() -> None:
    made = {new_pass(BOOKING) for _ in range(1000)}
    assert len(made) == 1000
    one = next(iter(made))
    assert len(one) == 25 and one[0] == "B"
    assert parse(one, BOOKING) == one
    spaced = " ".join(one[i : i + 4] for i in range(0, 25, 4)).lower()
    assert parse(f"  {spaced}\n", BOOKING) == one
    assert parse(one.replace(one[1:5], one[1:3] + "-" + one[3:5]), BOOKING) == one


@pytest.mark.parametrize(
    "text",
    [
        "",
        "B",
        "bkg-0123456789abcdef",
        "B" + "A" * 23,
        "B" + "A" * 25,
        "B" + "1" * 24,
        "B" + "A" * 24 + "\x00",
        "B" + "A" * 10_000,
        "R" + "A" * 24,
    ],
)
def test_what_is_not_a_booking_pass(text: str) -> None:
    assert parse(text, BOOKING) is None


def test_kinds() -> None:
    assert new_pass(REGISTRATION)[0] == "R"
    with pytest.raises(ValueError):
        new_pass("X")
