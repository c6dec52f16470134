"""A care team's labelled mentions: CSV (or TSV) or JSON lines in, training examples out.

Columns/fields: ``text`` (required); ``sentiment`` (negative/neutral/positive), ``complaint``
and ``relevant`` (true/false, yes/no, 1/0; ``relevant`` = the mention is about the brand at all)
— any of them, empty = not labelled; optional ``lang`` (de/en, anything else = detect) and
``id``. Other columns are ignored (``label-sample`` writes brand, platform, created_at too).
A row without any label is skipped (a sample not labelled yet); a row with a value that is not
one of these is an error naming the file and line, so nothing is silently lost.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.classification.model import LabelledText

SENTIMENT_VALUES = {"negative": "negative", "neutral": "neutral", "positive": "positive",
                    "neg": "negative", "neu": "neutral", "pos": "positive"}
_TRUE = frozenset({"true", "yes", "y", "1", "ja", "j"})
_FALSE = frozenset({"false", "no", "n", "0", "nein"})
# label-sample guards texts against spreadsheet formulas with a leading apostrophe
# (CSV injection); it is not part of the text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class LabelError(ValueError):
    """A label file that can't be used as it is; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class LabelSet:
    examples: list[LabelledText]
    unlabelled: int  # rows without any label, skipped
    path: Path


def unguard_text(text: str) -> str:
    """The text as written, without label-sample's formula guard."""
    if text.startswith("'") and text[1:2] and text[1] in FORMULA_START:
        return text[1:]
    return text


def guard_text(text: str) -> str:
    """A text a spreadsheet will show as text, never run as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _flag(value: Any, column: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{column} must be true or false (yes/no, 1/0), got {str(value)[:40]!r}")


def example_from_fields(fields: Mapping[str, Any]) -> LabelledText | None:
    """One row → an example (None: no label at all). Raises ValueError saying what is wrong."""
    text = fields.get("text")
    if not isinstance(text, str):
        raise ValueError("no text (a 'text' column or field is required)")
    raw_sentiment = fields.get("sentiment")
    sentiment: str | None = None
    if raw_sentiment is not None and str(raw_sentiment).strip():
        sentiment = SENTIMENT_VALUES.get(str(raw_sentiment).strip().lower())
        if sentiment is None:
            raise ValueError("sentiment must be negative, neutral or positive, got "
                             f"{str(raw_sentiment)[:40]!r}")
    complaint = _flag(fields.get("complaint"), "complaint")
    relevant = _flag(fields.get("relevant"), "relevant")
    if sentiment is None and complaint is None and relevant is None:
        return None
    if not text.strip():
        raise ValueError("empty text")
    lang = fields.get("lang")
    lang = lang.strip().lower() if isinstance(lang, str) else None
    raw_id = fields.get("id")
    return LabelledText(text=unguard_text(text), lang=lang if lang in ("de", "en") else None,
                        sentiment=sentiment, complaint=complaint, relevant=relevant,
                        id=str(raw_id) if raw_id not in (None, "") else None)


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    csv.field_size_limit(10_000_000)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        if reader.fieldnames is None or "text" not in reader.fieldnames:
            raise LabelError(f"{path}:1: no 'text' column in the header "
                             f"({', '.join(reader.fieldnames or []) or 'empty file'})")
        for row in reader:
            if None in row:
                raise LabelError(f"{path}:{reader.line_num}: more fields than the header has")
            yield reader.line_num, row


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with path.open(encoding="utf-8-sig") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LabelError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise LabelError(f"{path}:{lineno}: not a JSON object")
            yield lineno, obj


def read_labels(path: Path) -> LabelSet:
    """Every labelled row of a CSV/TSV (by extension: .tsv is tab-separated) or JSON lines file
    (.jsonl/.json/.ndjson). Raises LabelError (file and line) or OSError."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows = _jsonl_rows(path)
    else:
        rows = _csv_rows(path, "\t" if suffix == ".tsv" else ",")
    examples: list[LabelledText] = []
    unlabelled = 0
    try:
        for lineno, fields in rows:
            try:
                example = example_from_fields(fields)
            except ValueError as exc:
                raise LabelError(f"{path}:{lineno}: {exc}") from None
            if example is None:
                unlabelled += 1
            else:
                examples.append(example)
    except UnicodeDecodeError as exc:
        raise LabelError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise LabelError(f"{path}: not a readable CSV file ({exc})") from None
    if not examples:
        raise LabelError(f"{path}: no labelled rows ({unlabelled} without any label)")
    return LabelSet(examples, unlabelled, path)
