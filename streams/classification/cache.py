"""A bounded cache for the classifiers' lookups (pure: no I/O, no clock)."""

from __future__ import annotations

from typing import Generic, TypeVar

_V = TypeVar("_V")
_D = TypeVar("_D")


class GenerationalCache(Generic[_V]):
    """A bounded cache that keeps what is in use. A new key waits in the old generation; used
    again, it moves to the young one, where lookups look first. When the young generation is
    full it becomes the old one (the previous old one is dropped); when ``limit`` newcomers
    have joined the old generation since, it is dropped (what was in use has moved back to the
    young one by then). So one-off pieces of text (handles, numbers, typos) never push the
    frequent ones out; the young generation holds at most ``limit`` keys, the old one twice
    that. (Emptying a full cache instead made every frequent word a miss again every few
    thousand new texts.)"""

    __slots__ = ("limit", "newcomers", "old", "young")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.young: dict[str, _V] = {}  # used at least twice lately: look here first
        self.old: dict[str, _V] = {}
        self.newcomers = 0  # keys stored into the old generation since it was made

    def recall(self, key: str, absent: _D) -> _V | _D:
        """``key``'s value from the old generation, moved to the young one; else ``absent``."""
        old = self.old
        if key not in old:
            return absent
        value = old.pop(key)
        if len(self.young) >= self.limit:
            self.old = self.young
            self.young = {}
            self.newcomers = 0
        self.young[key] = value
        return value

    def store(self, key: str, value: _V) -> _V:
        """A new key: into the old generation until it is used again."""
        if self.newcomers >= self.limit:
            self.old = {}
            self.newcomers = 0
        self.newcomers += 1
        self.old[key] = value
        return value
