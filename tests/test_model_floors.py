"""Floors of the trained model (issue 16), measured as `mentionwatch eval-classifier --cv 5`
measures them: 5-fold cross-validation on each shared dev set, folds by a hash of the id. The
models are trained here, at test time, and never written anywhere (NC-licensed data)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from agents import eval_classifier as ev

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MENTIONWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))

FLOORS: dict[str, dict[str, float]] = {
    "airline": {"complaint_f1": 0.88, "macro_f1": 0.75},
    "germeval": {"accuracy": 0.73, "complaint_f1": 0.60},
}


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    out = io.StringIO()
    figures = ev.main(SHARED_DATA / ev.AIRLINE_REL, SHARED_DATA / ev.GERMEVAL_REL, cv=5, out=out)
    table = out.getvalue()
    for word in ("airline", "germeval", "model", "lexicon", "majority", "5-fold", "7260",
                 "2369"):
        assert word in table
    return figures


@pytest.mark.parametrize("dataset", sorted(FLOORS))
def test_cross_validated_floors(result: dict[str, Any], dataset: str) -> None:
    ds = result["datasets"][dataset]
    assert ds["n"] == {"airline": 7260, "germeval": 2369}[dataset]
    assert len(ds["fold_sizes"]) == 5 and sum(ds["fold_sizes"]) == ds["n"]
    assert min(ds["fold_sizes"]) > ds["n"] / 5 * 0.9  # the hash spreads the ids evenly
    model = ds["systems"]["model"]
    for metric, floor in FLOORS[dataset].items():
        assert model[metric] >= floor, f"{dataset} {metric} {model[metric]:.3f} < {floor}"


@pytest.mark.parametrize("dataset", sorted(FLOORS))
def test_the_model_beats_both_baselines(result: dict[str, Any], dataset: str) -> None:
    systems = result["datasets"][dataset]["systems"]
    for baseline in ("lexicon", "majority"):
        for metric in ("macro_f1", "complaint_f1"):
            ours, theirs = systems["model"][metric], systems[baseline][metric]
            assert ours > theirs, f"{dataset}: {baseline} {metric} {theirs:.3f} >= {ours:.3f}"
    # GermEval's relevance labels are learnt too
    if dataset == "germeval":
        assert systems["model"]["relevance_accuracy"] > 0.8
