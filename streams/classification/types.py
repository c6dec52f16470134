"""Result type and backend protocol of the classification core (pure: no I/O, no clock)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Language = Literal["de", "en", "und"]
Sentiment = Literal["negative", "neutral", "positive"]

LANGUAGES: tuple[str, ...] = ("de", "en", "und")
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class Classification:
    """What the enrichment step attaches to a mention.

    ``complaint`` is ``complaint_score >= threshold`` for the threshold the backend was asked to
    use; ``sentiment_score`` is in [-1, 1] and ``complaint_score`` in [0, 1].
    """

    language: str
    sentiment: str
    sentiment_score: float
    complaint: bool
    complaint_score: float

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {self.language!r}")
        if self.sentiment not in SENTIMENTS:
            raise ValueError(f"sentiment must be one of {SENTIMENTS}, got {self.sentiment!r}")
        if not -1.0 <= self.sentiment_score <= 1.0:
            raise ValueError(f"sentiment_score out of [-1, 1]: {self.sentiment_score!r}")
        if not 0.0 <= self.complaint_score <= 1.0:
            raise ValueError(f"complaint_score out of [0, 1]: {self.complaint_score!r}")

    def to_dict(self) -> dict[str, object]:
        return {
            "language": self.language,
            "sentiment": self.sentiment,
            "sentiment_score": self.sentiment_score,
            "complaint": self.complaint,
            "complaint_score": self.complaint_score,
        }


@runtime_checkable
class Classifier(Protocol):
    """A classification backend. Must be pure and thread-safe enough for one worker process."""

    def classify(self, text: str, lang: str | None = None) -> Classification: ...
