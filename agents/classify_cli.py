"""Logic of ``mentionwatch classify``: texts in, one JSON object per line out (I/O shell).

Input lines are either plain text (one text per line) or JSON objects (a line starting with
``{``) whose ``text_field`` holds the text. Output, one line each:

* plain input: ``{"text": ..., "language": ..., "sentiment": ..., "sentiment_score": ...,
  "complaint": ..., "complaint_score": ...}``;
* JSON input: the input object with those five fields added (overwriting same-named fields).

Blank lines are skipped. A JSON line without the text field (or with a non-string value) yields
``{"error": ..., "line": n}`` so the output stays aligned with the input for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from agents.classifier_setting import load_classifier
from agents.config import load_settings
from streams.classification import Classifier


def classify_line(
    line: str, backend: Classifier, *, text_field: str = "text", lang: str | None = None
) -> dict[str, Any] | None:
    """The output object for one input line (``None`` for a blank line)."""
    stripped = line.rstrip("\r\n")
    if not stripped.strip():
        return None
    record: dict[str, Any]
    if stripped.lstrip().startswith("{"):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            value = parsed.get(text_field)
            if not isinstance(value, str):
                return {"error": f"no string field {text_field!r}"}
            hint = lang if lang is not None else _lang_of(parsed)
            record = dict(parsed)
            record.update(backend.classify(value, hint).to_dict())
            return record
    record = {"text": stripped}
    record.update(backend.classify(stripped, lang).to_dict())
    return record


def _lang_of(record: dict[str, Any]) -> str | None:
    value = record.get("lang", record.get("language"))
    return value if isinstance(value, str) and value in ("de", "en") else None


def classify_lines(
    in_stream: Iterable[str],
    out_stream: TextIO,
    *,
    text_field: str = "text",
    lang: str | None = None,
    classifier: Classifier | None = None,
) -> int:
    """Classify every line of ``in_stream`` and write JSON lines; returns the number written.

    ``lang`` (de/en) is passed to the backend for every text; otherwise a JSON record's own
    ``lang``/``language`` field is used as the hint, and plain lines are detected. The backend
    defaults to ``$MENTIONWATCH_CLASSIFIER`` (``lexicon`` when unset) with its ``complaint``
    flag decided by ``$MENTIONWATCH_COMPLAINT_THRESHOLD`` when set, as in the worker.
    """
    if lang is not None and lang not in ("de", "en"):
        raise ValueError(f"--lang must be de or en, got {lang!r}")
    # as the worker reads them: MENTIONWATCH_CLASSIFIER, MENTIONWATCH_COMPLAINT_THRESHOLD
    backend = classifier if classifier is not None else load_classifier(load_settings())[0]
    written = 0
    for lineno, line in enumerate(in_stream, 1):
        record = classify_line(line, backend, text_field=text_field, lang=lang)
        if record is None:
            continue
        if "error" in record and len(record) == 1:
            record["line"] = lineno
        out_stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += 1
    out_stream.flush()
    return written
