"""Sums of a model's sparse weights, packed into one Python int per feature (pure).

A text's score needs, per weight vector, the sum of the weights of its word features and of its
character n-grams, and how many of each it has. In a list of floats that is one object per
weight, scattered in memory; here every vocabulary entry is one int holding its weights in
fixed-point lanes of 64 bits, so adding the ints adds every lane at once (exactly, in any
order) and a text costs one object per feature:

    lane 0: word features (1 per entry)  |  lanes 1..k: word weights
    lane k+1: character n-grams          |  lanes k+2..2k+1: n-gram weights

Each weight w is stored as round(w * 2**32) + 2**40 (never negative, so no lane borrows from
the next). With |w| <= MAX_WEIGHT and at most MAX_FEATURES features of either kind per text, a
lane's sum stays below 2**63: the lanes never carry into each other.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

LANE_BITS = 64
FRACTION = 2**32  # weights are kept to 2**-32 (2.3e-10): far below the 6 digits stored
OFFSET = 2**40
MAX_WEIGHT = 256.0  # |weight| <= this fits (a trained model's are below 10)
MAX_FEATURES = 2**22  # features of either kind in one text (1,000 tokens x their n-grams)
_LANE = 2**LANE_BITS - 1


class Layout:
    """The lanes of a model with ``k`` weight vectors."""

    __slots__ = ("_bytes", "_format", "char_mask", "k", "word_mask")

    def __init__(self, k: int) -> None:
        self.k = k
        half = LANE_BITS * (k + 1)
        self.word_mask = (1 << half) - 1
        self.char_mask = self.word_mask << half
        self._format = f"<{2 * (k + 1)}Q"
        self._bytes = 2 * (k + 1) * LANE_BITS // 8

    def entry(self, weights: Sequence[float]) -> int:
        """A vocabulary entry with these weights (one per vector), as a word feature and as a
        character n-gram (mask with word_mask / char_mask for one role)."""
        if len(weights) != self.k:
            raise ValueError(f"expected {self.k} weights, got {len(weights)}")
        half = 1
        for i, w in enumerate(weights, start=1):
            if not -MAX_WEIGHT <= w <= MAX_WEIGHT:
                raise ValueError(f"weight {w!r} is outside +-{MAX_WEIGHT:g}")
            half |= (round(w * FRACTION) + OFFSET) << (LANE_BITS * i)
        return half | (half << (LANE_BITS * (self.k + 1)))

    def sums(self, total: int) -> tuple[int, list[float], int, list[float]]:
        """(word features, their weight sum per vector, character n-grams, theirs) of a sum of
        entries."""
        lanes = struct.unpack(self._format, total.to_bytes(self._bytes, "little"))
        k = self.k
        n_word, n_char = lanes[0], lanes[k + 1]
        word_offset, char_offset = n_word * OFFSET, n_char * OFFSET
        words = [(lane - word_offset) / FRACTION for lane in lanes[1:k + 1]]
        chars = [(lane - char_offset) / FRACTION for lane in lanes[k + 2:]]
        return n_word, words, n_char, chars
