"""Small-count suppression: a count of people (or of their actions) between 1 and the
threshold - 1 is never shown. Zero is shown (it discloses nobody). In a breakdown whose
total is shown, a lone suppressed cell could be recovered by subtraction, so the next
smallest non-zero cell is suppressed too (complementary suppression)."""

from __future__ import annotations

from collections.abc import Mapping


def hidden(value: int | float | None, threshold: int) -> bool:
    return value is not None and 0 < value < threshold


def count(value: int, threshold: int) -> int | None:
    return None if hidden(value, threshold) else value


def breakdown(counts: Mapping[str, int], threshold: int) -> dict[str, int | None]:
    """Suppress a breakdown that adds up to a shown total (categories are exclusive)."""
    out: dict[str, int | None] = {k: count(v, threshold) for k, v in counts.items()}
    suppressed = [k for k, v in out.items() if v is None]
    if len(suppressed) == 1:
        others = sorted((v, k) for k, v in counts.items() if v > 0 and out[k] is not None)
        if others:
            out[others[0][1]] = None
    return out


def rate(numerator: int, denominator: int, threshold: int) -> float | None:
    """A rate is shown only when both its counts could be shown."""
    if denominator <= 0 or hidden(denominator, threshold) or hidden(numerator, threshold):
        return None
    return round(numerator / denominator, 4)


def guarded(value: float, people: int, threshold: int) -> float | None:
    """A measure (hours, say) of fewer people than the threshold is suppressed too."""
    return None if hidden(people, threshold) else round(value, 2)
