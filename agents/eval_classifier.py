"""Measure the classifier on the real labelled dev sets, next to two baselines (I/O shell).

Data sets (never shipped, licensed non-commercial; see ../shared/data/README.md):

* ``airline/dev.csv`` — English tweets to US airlines, label column ``airline_sentiment``;
* ``germeval2017/dev.tsv`` — German Deutsche Bahn feedback, label column ``sentiment``.

For each set: n, accuracy and macro-F1 over negative/neutral/positive, and complaint precision,
recall and F1 where the gold complaint is "labelled negative" and the prediction is the
classifier's ``complaint`` flag. Baselines computed in the same run: the majority class (of that
data set) and VADER (compound >= 0.05 positive, <= -0.05 negative, else neutral; complaint =
negative).
"""

from __future__ import annotations

import csv
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from streams.classification import Classifier, get_classifier
from streams.classification.model import LabelledText

CLASSES: tuple[str, ...] = ("negative", "neutral", "positive")
AIRLINE_REL = Path("airline") / "dev.csv"
GERMEVAL_REL = Path("germeval2017") / "dev.tsv"
SYSTEMS: tuple[str, ...] = ("mentionwatch", "majority", "vader")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str
    lang: str


def shared_data_dir() -> Path:
    """``$MENTIONWATCH_SHARED_DATA``, else ``../shared/data`` from the working directory, else
    ``../shared/data`` next to this repository."""
    env = os.environ.get("MENTIONWATCH_SHARED_DATA")
    if env:
        return Path(env)
    from_cwd = (Path.cwd() / ".." / "shared" / "data").resolve()
    if from_cwd.is_dir():
        return from_cwd
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_airline(path: Path) -> list[Example]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        out = [
            Example(row["text"], row["airline_sentiment"].strip(), "en")
            for row in reader
            if row.get("text") is not None
        ]
    _check_labels(out, path)
    return out


def load_germeval(path: Path) -> list[Example]:
    csv.field_size_limit(max(csv.field_size_limit(), 10_000_000))
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        out = [
            Example(row["text"], row["sentiment"].strip(), "de")
            for row in reader
            if row.get("text") is not None
        ]
    _check_labels(out, path)
    return out


def _check_labels(examples: Sequence[Example], path: Path) -> None:
    if not examples:
        raise ValueError(f"{path}: no rows")
    bad = {e.label for e in examples} - set(CLASSES)
    if bad:
        raise ValueError(f"{path}: unexpected labels {sorted(bad)}")


# ----------------------------------------------------------------------------- metrics
def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(gold: Sequence[str], pred: Sequence[str], complaint: Sequence[bool]) -> dict[str, Any]:
    """Accuracy, per-class and macro F1, complaint P/R/F1 (gold complaint = label negative)."""
    if not len(gold) == len(pred) == len(complaint):
        raise ValueError("length mismatch")
    n = len(gold)
    acc = sum(g == p for g, p in zip(gold, pred, strict=True)) / n if n else 0.0
    per_class: dict[str, float] = {}
    for cls in CLASSES:
        tp = sum(g == cls and p == cls for g, p in zip(gold, pred, strict=True))
        fp = sum(g != cls and p == cls for g, p in zip(gold, pred, strict=True))
        fn = sum(g == cls and p != cls for g, p in zip(gold, pred, strict=True))
        per_class[cls] = _prf(tp, fp, fn)[2]
    tp = sum(g == "negative" and c for g, c in zip(gold, complaint, strict=True))
    fp = sum(g != "negative" and c for g, c in zip(gold, complaint, strict=True))
    fn = sum(g == "negative" and not c for g, c in zip(gold, complaint, strict=True))
    p, r, f = _prf(tp, fp, fn)
    return {
        "n": n,
        "accuracy": acc,
        "macro_f1": sum(per_class.values()) / len(CLASSES),
        "f1_per_class": per_class,
        "complaint_precision": p,
        "complaint_recall": r,
        "complaint_f1": f,
    }


# ---------------------------------------------------------------------------- systems
def predict_ours(
    examples: Sequence[Example], classifier: Classifier, use_lang_hint: bool = False
) -> tuple[list[str], list[bool]]:
    sentiments: list[str] = []
    complaints: list[bool] = []
    for ex in examples:
        c = classifier.classify(ex.text, ex.lang if use_lang_hint else None)
        sentiments.append(c.sentiment)
        complaints.append(c.complaint)
    return sentiments, complaints


def predict_majority(examples: Sequence[Example]) -> tuple[list[str], list[bool]]:
    counts = {cls: 0 for cls in CLASSES}
    for ex in examples:
        counts[ex.label] += 1
    majority = max(CLASSES, key=lambda c: counts[c])
    return [majority] * len(examples), [majority == "negative"] * len(examples)


def vader_predictor() -> Callable[[str], str] | None:
    """VADER's three-way decision, or None when vaderSentiment is not installed."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    analyzer = SentimentIntensityAnalyzer()

    def predict(text: str) -> str:
        compound = float(analyzer.polarity_scores(text)["compound"])
        if compound >= 0.05:
            return "positive"
        if compound <= -0.05:
            return "negative"
        return "neutral"

    return predict


def predict_vader(
    examples: Sequence[Example], predict: Callable[[str], str]
) -> tuple[list[str], list[bool]]:
    sentiments = [predict(ex.text) for ex in examples]
    return sentiments, [s == "negative" for s in sentiments]


def evaluate(
    examples: Sequence[Example],
    classifier: Classifier,
    vader: Callable[[str], str] | None,
) -> dict[str, Any]:
    gold = [ex.label for ex in examples]
    out: dict[str, Any] = {"n": len(examples), "labels": {c: gold.count(c) for c in CLASSES}}
    t0 = time.perf_counter()
    ours = predict_ours(examples, classifier)
    elapsed = time.perf_counter() - t0
    systems: dict[str, Any] = {"mentionwatch": score(gold, *ours)}
    systems["mentionwatch"]["texts_per_second"] = len(examples) / elapsed if elapsed else 0.0
    systems["majority"] = score(gold, *predict_majority(examples))
    if vader is not None:
        systems["vader"] = score(gold, *predict_vader(examples, vader))
    out["systems"] = systems
    return out


def run_eval(
    airline_path: Path | str | None = None,
    germeval_path: Path | str | None = None,
    classifier: Classifier | None = None,
    *,
    with_vader: bool = True,
) -> dict[str, Any]:
    """Evaluate on both dev sets; paths default to the shared data directory."""
    base = shared_data_dir()
    airline = Path(airline_path) if airline_path is not None else base / AIRLINE_REL
    germeval = Path(germeval_path) if germeval_path is not None else base / GERMEVAL_REL
    backend = classifier if classifier is not None else get_classifier(
        os.environ.get("MENTIONWATCH_CLASSIFIER")
    )
    vader = vader_predictor() if with_vader else None
    return {
        "classifier": getattr(backend, "name", type(backend).__name__),
        "vader_available": vader is not None,
        "datasets": {
            "airline": {"path": str(airline), **evaluate(load_airline(airline), backend, vader)},
            "germeval": {
                "path": str(germeval),
                **evaluate(load_germeval(germeval), backend, vader),
            },
        },
    }


# The figures of a table row: (key in the results, column header).
METRIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("accuracy", "acc"),
    ("macro_f1", "macro-F1"),
    ("complaint_precision", "compl-P"),
    ("complaint_recall", "compl-R"),
    ("complaint_f1", "compl-F1"),
)


def format_table(result: dict[str, Any]) -> str:
    """The human-readable table printed by ``mentionwatch eval-classifier``."""
    lines: list[str] = []
    header = f"{'data set':<10} {'n':>5}  {'system':<13}" + "".join(
        f" {label:>9}" for _, label in METRIC_COLUMNS
    )
    lines.append(header)
    lines.append("-" * len(header))
    for name, ds in result["datasets"].items():
        for i, system in enumerate(SYSTEMS):
            metrics = ds["systems"].get(system)
            if metrics is None:
                continue
            first = f"{name:<10} {ds['n']:>5}" if i == 0 else " " * 16
            row = f"{first}  {system:<13}" + "".join(
                f" {metrics[key]:>9.3f}" for key, _ in METRIC_COLUMNS
            )
            lines.append(row)
        lines.append("")
    if not result.get("vader_available", True):
        lines.append("(VADER baseline skipped: vaderSentiment is not installed)")
    lines.append(
        "complaint = labelled negative; majority = most frequent label of the data set; "
        "VADER: compound >= 0.05 pos, <= -0.05 neg."
    )
    return "\n".join(lines)


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_jsonable(v) for v in obj]
    return obj


def load_airline_labelled(path: Path) -> list[LabelledText]:
    """The airline set as training examples (id = tweet id)."""
    with path.open(encoding="utf-8", newline="") as handle:
        out = [LabelledText(row["text"], "en", row["airline_sentiment"].strip(),
                            id=row["tweet_id"])
               for row in csv.DictReader(handle) if row.get("text") is not None]
    _check_labels([Example(e.text, e.sentiment or "", "en") for e in out], path)
    return out


def load_germeval_labelled(path: Path) -> list[LabelledText]:
    """The GermEval set as training examples (id = the document's URL, relevance labelled)."""
    csv.field_size_limit(max(csv.field_size_limit(), 10_000_000))
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        out = [LabelledText(row["text"], "de", row["sentiment"].strip(),
                            relevant=row["relevance"].strip().lower() == "true", id=row["id"])
               for row in reader if row.get("text") is not None]
    _check_labels([Example(e.text, e.sentiment or "", "de") for e in out], path)
    return out


def shared_labelled(airline: Path | str | None = None, germeval: Path | str | None = None
                    ) -> dict[str, list[LabelledText]]:
    base = shared_data_dir()
    return {
        "airline": load_airline_labelled(Path(airline) if airline else base / AIRLINE_REL),
        "germeval": load_germeval_labelled(Path(germeval) if germeval else base / GERMEVAL_REL),
    }


def run_cv(datasets: dict[str, list[LabelledText]], k: int) -> dict[str, Any]:
    """K-fold cross-validation of a model trained on each data set (agents.train_cli)."""
    from agents.train_cli import cross_validate

    return {"cv": k, "datasets": {name: cross_validate(examples, k)
                                  for name, examples in datasets.items()}}


def run_fixed(datasets: dict[str, list[LabelledText]], classifier: Classifier) -> dict[str, Any]:
    """A given classifier (e.g. a trained model) on labelled files, next to the majority label
    of each file."""
    from agents.train_cli import _majority, label_counts, score_examples

    out: dict[str, Any] = {}
    for name, examples in datasets.items():
        predictions = [classifier.classify(e.text, e.lang) for e in examples]
        majority = _majority(examples)
        out[name] = {"n": len(examples), "labels": label_counts(examples), "systems": {
            "mentionwatch": score_examples(examples, predictions),
            "majority": score_examples(examples, [majority] * len(examples)),
        }}
    return {"classifier": getattr(classifier, "name", type(classifier).__name__),
            "datasets": out}


def format_fixed_table(result: dict[str, Any]) -> str:
    header = f"{'data set':<16} {'n':>6}  {'system':<13}" + "".join(
        f" {label:>9}" for _, label in METRIC_COLUMNS)
    lines = [f"classifier: {result['classifier']}", header, "-" * len(header)]
    for name, ds in result["datasets"].items():
        for i, system in enumerate(("mentionwatch", "majority")):
            metrics = ds["systems"][system]
            first = f"{name[:16]:<16} {ds['n']:>6}" if i == 0 else " " * 23
            lines.append(f"{first}  {system:<13}" + "".join(
                f" {metrics[key]:>9.3f}" if key in metrics else f" {'-':>9}"
                for key, _ in METRIC_COLUMNS))
        lines.append("")
    lines.append("complaint = the complaint label, or labelled negative where only the sentiment "
                 "is given; majority = the most frequent label of the file.")
    return "\n".join(lines)


def main(
    airline: Path | str | None = None,
    germeval: Path | str | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
    *,
    classifier: Classifier | None = None,
    cv: int | None = None,
    labels: Sequence[Path] = (),
) -> dict[str, Any]:
    """Run the evaluation and print the table (or JSON) to ``out`` (stdout by default).

    ``cv``: cross-validate a model trained on each data set instead of measuring a fixed
    classifier. ``labels``: labelled files (see agents.labels) instead of the shared dev sets.
    ``classifier``: the classifier to measure (default: the configured one)."""
    import json

    from agents.train_cli import format_cv_table

    stream = out if out is not None else sys.stdout
    if cv is not None or labels:
        from agents.labels import read_labels

        datasets = ({p.name: read_labels(p).examples for p in labels} if labels
                    else shared_labelled(airline, germeval))
        if cv is not None:
            result = run_cv(datasets, cv)
            text = format_cv_table(result["datasets"])
        else:
            result = run_fixed(datasets, classifier if classifier is not None
                               else get_classifier(os.environ.get("MENTIONWATCH_CLASSIFIER")))
            text = format_fixed_table(result)
    else:
        result = run_eval(airline, germeval, classifier)
        text = format_table(result)
    if as_json:
        stream.write(json.dumps(_to_jsonable(result), indent=2, sort_keys=True) + "\n")
    else:
        stream.write(text + "\n")
    return result


if __name__ == "__main__":  # pragma: no cover
    _args = [a for a in sys.argv[1:] if a != "--json"]
    main(
        _args[0] if _args else None,
        _args[1] if len(_args) > 1 else None,
        as_json="--json" in sys.argv,
    )
