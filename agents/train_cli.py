"""`mentionwatch train` and the cross-validation `eval-classifier --cv` shares with it (shell).

Cross-validation: every example goes to one of K folds by a hash of its id (of its text when it
has none), so the folds don't depend on the file's order and a re-labelled file keeps its
folds. For each fold a model is trained on the other K-1 and predicts the fold; the figures are
computed once over all these held-out predictions, next to two baselines on the same examples:
the shipped lexicon and the majority label of the training folds.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.eval_classifier import METRIC_COLUMNS
from streams.classification import Classification, Classifier
from streams.classification.engine import default_classifier
from streams.classification.model import (
    FeatureSettings,
    LabelledText,
    TrainedModel,
    TrainingSettings,
    extract,
    train,
)
from streams.classification.types import SENTIMENTS

CV_SYSTEMS: tuple[str, ...] = ("model", "lexicon", "majority")


def fold_of(example: LabelledText, k: int) -> int:
    key = example.id if example.id else example.text
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % k


def gold_complaint(example: LabelledText) -> bool | None:
    """The complaint label, or where only the sentiment is labelled: negative = complaint; a
    mention labelled not relevant (not about the brand) is no complaint about the brand."""
    if example.relevant is False and (example.complaint is not None
                                      or example.sentiment is not None):
        return False
    if example.complaint is not None:
        return example.complaint
    if example.sentiment is not None:
        return example.sentiment == "negative"
    return None


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score_examples(examples: Sequence[LabelledText],
                   predictions: Sequence[Classification]) -> dict[str, Any]:
    """Sentiment accuracy and macro-F1 over the examples labelled with a sentiment; complaint
    precision/recall/F1 over those with a complaint (or sentiment) label."""
    out: dict[str, Any] = {"n": len(examples)}
    pairs = [(e.sentiment, p.sentiment) for e, p in zip(examples, predictions, strict=True)
             if e.sentiment is not None]
    if pairs:
        out["accuracy"] = sum(g == p for g, p in pairs) / len(pairs)
        per_class = {}
        for cls in SENTIMENTS:
            tp = sum(g == cls and p == cls for g, p in pairs)
            fp = sum(g != cls and p == cls for g, p in pairs)
            fn = sum(g == cls and p != cls for g, p in pairs)
            per_class[cls] = _prf(tp, fp, fn)[2]
        out["f1_per_class"] = per_class
        out["macro_f1"] = sum(per_class.values()) / len(SENTIMENTS)
    flags = [(gold_complaint(e), p.complaint) for e, p in zip(examples, predictions, strict=True)]
    known = [(g, p) for g, p in flags if g is not None]
    if known:
        tp = sum(g and p for g, p in known)
        fp = sum(p and not g for g, p in known)
        fn = sum(g and not p for g, p in known)
        p, r, f = _prf(tp, fp, fn)
        out.update(complaint_precision=p, complaint_recall=r, complaint_f1=f)
    return out


def _majority(examples: Sequence[LabelledText]) -> Classification:
    sentiments = Counter(e.sentiment for e in examples if e.sentiment is not None)
    complaints = Counter(gold_complaint(e) for e in examples if gold_complaint(e) is not None)
    # Ties go to the first in a fixed order, so the baseline is deterministic.
    sentiment = max(SENTIMENTS, key=lambda s: sentiments[s]) if sentiments else "neutral"
    complaint = complaints[True] > complaints[False]
    return Classification(language="und", sentiment=sentiment, sentiment_score=0.0,
                          complaint=complaint, complaint_score=1.0 if complaint else 0.0)


def cross_validate(
    examples: Sequence[LabelledText],
    k: int,
    *,
    features: FeatureSettings | None = None,
    settings: TrainingSettings | None = None,
    lexicon: Classifier | None = None,
) -> dict[str, Any]:
    """Held-out figures of the model, the lexicon and the majority baseline (see module doc)."""
    if k < 2:
        raise ValueError("--cv needs at least 2 folds")
    folds = [fold_of(e, k) for e in examples]
    sizes = Counter(folds)
    if len(sizes) < k:
        raise ValueError(f"{len(examples)} examples leave some of the {k} folds empty: "
                         "label more or use fewer folds")
    lex = lexicon if lexicon is not None else default_classifier()
    model_pred: list[Classification | None] = [None] * len(examples)
    majority_pred: list[Classification | None] = [None] * len(examples)
    relevance_hits = relevance_n = 0
    extracted = extract(examples, features)  # once for all folds: the same for each
    for fold in range(k):
        train_idx = [i for i, f in enumerate(folds) if f != fold]
        train_part = [examples[i] for i in train_idx]
        model = train(train_part, features, settings,
                      extracted=[extracted[i] for i in train_idx])
        majority = _majority(train_part)
        for i, (example, f) in enumerate(zip(examples, folds, strict=True)):
            if f != fold:
                continue
            model_pred[i] = model.classify_extracted(extracted[i])
            majority_pred[i] = majority
            if example.relevant is not None and "relevant" in model.heads:
                relevance_n += 1
                p_relevant = model.predict_extracted(extracted[i])["relevant"]
                relevance_hits += (p_relevant >= 0.5) == example.relevant
    lexicon_pred = [lex.classify(e.text, e.lang) for e in examples]
    systems = {
        "model": score_examples(examples, [p for p in model_pred if p is not None]),
        "lexicon": score_examples(examples, lexicon_pred),
        "majority": score_examples(examples, [p for p in majority_pred if p is not None]),
    }
    if relevance_n:
        systems["model"]["relevance_accuracy"] = relevance_hits / relevance_n
    return {"n": len(examples), "folds": k, "fold_sizes": [sizes[f] for f in range(k)],
            "labels": label_counts(examples), "systems": systems}


def label_counts(examples: Sequence[LabelledText]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    sentiments = Counter(e.sentiment for e in examples if e.sentiment is not None)
    if sentiments:
        out["sentiment"] = {s: sentiments[s] for s in SENTIMENTS}
    for task in ("complaint", "relevant"):
        values = Counter(getattr(e, task) for e in examples if getattr(e, task) is not None)
        if values:
            out[task] = {"true": values[True], "false": values[False]}
    return out


def format_cv_table(results: dict[str, dict[str, Any]]) -> str:
    """One block per data set: the model's held-out figures and the two baselines'."""
    header = f"{'data set':<16} {'n':>6}  {'system':<9}" + "".join(
        f" {label:>9}" for _, label in METRIC_COLUMNS)
    lines = [header, "-" * len(header)]
    for name, result in results.items():
        for i, system in enumerate(CV_SYSTEMS):
            metrics = result["systems"][system]
            first = f"{name[:16]:<16} {result['n']:>6}" if i == 0 else " " * 23
            cells = "".join(f" {metrics[key]:>9.3f}" if key in metrics else f" {'-':>9}"
                            for key, _ in METRIC_COLUMNS)
            lines.append(f"{first}  {system:<9}{cells}")
        relevance = result["systems"]["model"].get("relevance_accuracy")
        if relevance is not None:
            lines.append(f"{'':23}  (model: relevance accuracy {relevance:.3f})")
        lines.append("")
    k = next(iter(results.values()))["folds"] if results else 0
    lines.append(f"{k}-fold cross-validation, folds by a hash of each id (of the text without "
                 "one): every figure is on texts the model was not trained on.")
    lines.append("Complaint = the complaint label, or labelled negative where only the sentiment "
                 "is given, and not labelled irrelevant.")
    lines.append("majority = the most frequent label of the training folds.")
    return "\n".join(lines)


def write_model_atomically(model: TrainedModel, out: Path) -> None:
    """Write to a temporary file beside ``out`` and rename it: a reader (a starting worker)
    sees the old file or the new one, never half of one."""
    data = model.to_bytes()
    directory = out.parent if str(out.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def train_model(examples: Sequence[LabelledText], *, trained_at: str, source: str,
                mentionwatch_version: str) -> TrainedModel:
    """The model `mentionwatch train` writes: every example, the metadata a model carries."""
    ordered = sorted(examples, key=lambda e: (e.id or "", e.text))  # file order doesn't matter
    model = train(ordered, metadata={"trained_at": trained_at, "source": source,
                                     "mentionwatch_version": mentionwatch_version})
    return model
