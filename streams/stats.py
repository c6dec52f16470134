"""Reporting statistics with the conventions of docs/explanation/semantics.md."""

from __future__ import annotations

from collections.abc import Iterable


def median(values: Iterable[float]) -> float | None:
    """The middle value, or the mean of the two middle values for an even count; None if empty."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return None
    mid = n // 2
    if n % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def p90_nearest_rank(values: Iterable[float]) -> float | None:
    """Nearest rank: the value at 1-based rank ceil(0.9 * n) of the sorted values; None if empty.
    The rank is computed in integers (ceil(9n / 10)), so no float rounding can shift it."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return None
    rank = (9 * n + 9) // 10
    return float(ordered[rank - 1])
