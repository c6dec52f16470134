"""`mentionwatch label-sample`: the mentions worth a care team's labelling time (I/O shell).

Reads mentions.enriched (the replay's reader: confluent-kafka with the configured security),
keeps the customers' mentions (not the brands' own posts) created in [from, to), each mention
id once, and classifies their texts again with the configured classifier. Of the N exported,
``round(N * random_share)`` are drawn at random (seeded) and the rest are those whose
complaint_score is nearest the complaint threshold — where a label changes the model most.
Ties are broken by id, so the same records, settings and seed always give the same file.
"""

from __future__ import annotations

import csv
import io
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agents.config import Settings
from agents.labels import guard_text
from schemas.codec import DecodeError, decode_enriched
from schemas.models import Mention
from streams.classification import DEFAULT_COMPLAINT_THRESHOLD, Classifier

COLUMNS: tuple[str, ...] = ("id", "brand", "platform", "created_at", "lang", "text",
                            "sentiment", "complaint", "relevant")


class SampleError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Candidate:
    uncertainty: float  # |complaint_score - threshold|
    mention: Mention
    language: str


def select(candidates: list[Candidate], n: int, random_share: float, seed: int
           ) -> tuple[list[Candidate], int, int]:
    """The least sure ``n - round(n * random_share)`` and a seeded random draw of the rest from
    the others; returns them (ordered by creation time, then id) and the two counts."""
    by_id = sorted(candidates, key=lambda c: c.mention.id)
    n = min(n, len(by_id))
    n_random = round(n * random_share)
    ranked = sorted(by_id, key=lambda c: (c.uncertainty, c.mention.id))
    uncertain = ranked[:n - n_random]
    chosen = {c.mention.id for c in uncertain}
    rest = [c for c in by_id if c.mention.id not in chosen]
    drawn = random.Random(seed).sample(rest, min(n_random, len(rest)))
    picked = sorted(uncertain + drawn, key=lambda c: (c.mention.created_at_ms, c.mention.id))
    return picked, len(uncertain), len(drawn)


def to_csv(picked: list[Candidate]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for c in picked:
        m = c.mention
        writer.writerow([guard_text(m.id), m.brand, m.platform, m.created_at, c.language,
                         guard_text(m.text), "", "", ""])
    return buffer.getvalue()


def read_candidates(settings: Settings, classifier: Classifier, *, from_ms: int, to_ms: int,
                    brand: str | None) -> tuple[list[Candidate], int]:
    """The customers' mentions of the range, each once, with their uncertainty; and the number
    of records read."""
    from agents.replay import ReplayError, _partitions, _read

    threshold = (settings.complaint_threshold if settings.complaint_threshold is not None
                 else DEFAULT_COMPLAINT_THRESHOLD)
    classify = classifier.classify
    found: dict[str, Candidate] = {}
    read = 0

    def on_batch(values: list[bytes], _timestamps: list[int]) -> None:
        nonlocal read
        read += len(values)
        for value in values:
            try:
                record = decode_enriched(value)
            except DecodeError:
                continue  # not a record the workers wrote
            m = record.mention
            if (m.author.is_brand or not from_ms <= m.created_at_ms < to_ms
                    or (brand is not None and m.brand != brand) or m.id in found):
                continue
            result = classify(m.text, m.lang)
            language = m.lang if m.lang in ("de", "en") else result.language
            found[m.id] = Candidate(abs(result.complaint_score - threshold), m,
                                    language if language in ("de", "en") else "")

    try:
        partitions = _partitions(settings, settings.topic_enriched)
        if not partitions:
            raise SampleError(f"topic {settings.topic_enriched} not found on "
                              f"{settings.bootstrap_servers}")
        _read(settings, settings.topic_enriched, partitions, from_ms, on_batch, lambda _n: None)
    except ReplayError as exc:
        raise SampleError(str(exc)) from None
    return list(found.values()), read


def write_atomically(text: str, out: Path) -> None:
    directory = out.parent if str(out.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_label_sample(settings: Settings, classifier: Classifier, *, from_ms: int, to_ms: int,
                     n: int, random_share: float, seed: int, brand: str | None,
                     out: Path) -> str:
    """Write the sample to ``out``; returns the one-line summary."""
    candidates, read = read_candidates(settings, classifier, from_ms=from_ms, to_ms=to_ms,
                                       brand=brand)
    if not candidates:
        raise SampleError(f"no customer mentions in the range among the {read} records of "
                          f"{settings.topic_enriched}: nothing to label")
    picked, n_uncertain, n_random = select(candidates, n, random_share, seed)
    try:
        write_atomically(to_csv(picked), out)
    except OSError as exc:
        raise SampleError(f"cannot write {out}: {exc.strerror or exc}") from None
    return (f"wrote {len(picked)} mentions to {out}: {n_uncertain} the classifier is least sure "
            f"of, {n_random} at random (seed {seed}), of {len(candidates)} customer mentions "
            f"in the range ({read} records read). Fill in sentiment, complaint and/or relevant, "
            f"then: mentionwatch train {out} --out MODEL")
