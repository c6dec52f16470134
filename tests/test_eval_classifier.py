"""The classifier measured on the real labelled dev sets: floors and baselines (issue 3)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from agents import eval_classifier as ev

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MENTIONWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))

# Floors from the issue (not aims): the classifier must reach these on the dev sets.
FLOORS: dict[str, dict[str, float]] = {
    "airline": {"complaint_f1": 0.82, "macro_f1": 0.62},
    "germeval": {"complaint_f1": 0.60, "macro_f1": 0.50},
}
# Figures on which both baselines must be beaten. Majority-class accuracy on GermEval (69 %
# neutral) and majority-class complaint recall on airline (1.0: it flags everything) are
# artefacts of the class balance, not something a classifier should chase; see
# docs/explanation/classification.md.
MUST_BEAT = ("macro_f1", "complaint_f1")


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return ev.run_eval(SHARED_DATA / ev.AIRLINE_REL, SHARED_DATA / ev.GERMEVAL_REL)


def test_data_sets_are_read_completely(result: dict[str, Any]) -> None:
    airline = result["datasets"]["airline"]
    germeval = result["datasets"]["germeval"]
    assert airline["n"] == 7260
    assert airline["labels"] == {"negative": 4560, "neutral": 1545, "positive": 1155}
    assert germeval["n"] == 2369
    assert germeval["labels"] == {"negative": 589, "neutral": 1632, "positive": 148}
    assert result["vader_available"] is True


@pytest.mark.parametrize("dataset", sorted(FLOORS))
def test_floors(result: dict[str, Any], dataset: str) -> None:
    ours = result["datasets"][dataset]["systems"]["mentionwatch"]
    for metric, floor in FLOORS[dataset].items():
        assert ours[metric] >= floor, f"{dataset} {metric} {ours[metric]:.3f} < {floor}"


@pytest.mark.parametrize("dataset", sorted(FLOORS))
@pytest.mark.parametrize("baseline", ["majority", "vader"])
def test_beats_baselines(result: dict[str, Any], dataset: str, baseline: str) -> None:
    systems = result["datasets"][dataset]["systems"]
    for metric in MUST_BEAT:
        ours, theirs = systems["mentionwatch"][metric], systems[baseline][metric]
        assert ours > theirs, f"{dataset}: {baseline} {metric} {theirs:.3f} >= ours {ours:.3f}"


def test_beats_baseline_accuracy_where_it_is_meaningful(result: dict[str, Any]) -> None:
    airline = result["datasets"]["airline"]["systems"]
    assert airline["mentionwatch"]["accuracy"] > airline["majority"]["accuracy"]
    assert airline["mentionwatch"]["accuracy"] > airline["vader"]["accuracy"]
    germeval = result["datasets"]["germeval"]["systems"]
    assert germeval["mentionwatch"]["accuracy"] > germeval["vader"]["accuracy"]
    # complaint precision: better than flagging everything
    for dataset in ("airline", "germeval"):
        systems = result["datasets"][dataset]["systems"]
        assert (systems["mentionwatch"]["complaint_precision"]
                > systems["majority"]["complaint_precision"])


def test_reference_baseline_figures(result: dict[str, Any]) -> None:
    """The baselines are computed as the issue describes (its reference figures)."""
    airline = result["datasets"]["airline"]["systems"]
    germeval = result["datasets"]["germeval"]["systems"]
    assert airline["majority"]["complaint_f1"] == pytest.approx(0.77, abs=0.005)
    assert airline["vader"]["complaint_f1"] == pytest.approx(0.58, abs=0.005)
    assert germeval["vader"]["complaint_f1"] == pytest.approx(0.33, abs=0.01)
    assert germeval["majority"]["complaint_f1"] == 0.0


def test_table_and_json_output() -> None:
    out = io.StringIO()
    ev.main(SHARED_DATA / ev.AIRLINE_REL, SHARED_DATA / ev.GERMEVAL_REL, as_json=False, out=out)
    table = out.getvalue()
    for word in ("airline", "germeval", "mentionwatch", "majority", "vader", "compl-F1",
                 "macro-F1", "7260", "2369"):
        assert word in table
    out = io.StringIO()
    ev.main(SHARED_DATA / ev.AIRLINE_REL, SHARED_DATA / ev.GERMEVAL_REL, as_json=True, out=out)
    data = json.loads(out.getvalue())
    ours = data["datasets"]["airline"]["systems"]["mentionwatch"]
    assert set(ours) >= {"n", "accuracy", "macro_f1", "complaint_precision",
                         "complaint_recall", "complaint_f1", "f1_per_class"}


def test_default_paths_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MENTIONWATCH_SHARED_DATA", str(SHARED_DATA))
    assert ev.shared_data_dir() == SHARED_DATA
    monkeypatch.delenv("MENTIONWATCH_SHARED_DATA")
    monkeypatch.chdir(REPO)
    assert ev.shared_data_dir() == (REPO / ".." / "shared" / "data").resolve()


def test_score_metrics_by_hand() -> None:
    gold = ["negative", "negative", "neutral", "positive"]
    pred = ["negative", "neutral", "neutral", "negative"]
    s = ev.score(gold, pred, [True, False, False, True])
    assert s["accuracy"] == 0.5
    assert s["complaint_precision"] == 0.5 and s["complaint_recall"] == 0.5
    assert s["f1_per_class"] == {"negative": 0.5, "neutral": pytest.approx(2 / 3),
                                 "positive": 0.0}
    assert s["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 3)


def test_bad_files_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,airline_sentiment\nhello,angry\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unexpected labels"):
        ev.load_airline(bad)
    with pytest.raises(FileNotFoundError):
        ev.load_germeval(tmp_path / "missing.tsv")


def test_classify_cli_lines() -> None:
    from agents.classify_cli import classify_lines

    src = io.StringIO(
        "Zug fällt aus, danke für nichts\n"
        "\n"
        '{"id": 7, "text": "thanks, great crew!", "lang": "en"}\n'
        '{"id": 8, "body": "no text field"}\n'
    )
    out = io.StringIO()
    assert classify_lines(src, out) == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["text"] == "Zug fällt aus, danke für nichts"
    assert lines[0]["language"] == "de" and lines[0]["complaint"] is True
    assert lines[1]["id"] == 7 and lines[1]["sentiment"] == "positive"
    assert lines[1]["language"] == "en"
    assert lines[2] == {"error": "no string field 'text'", "line": 4}
    out = io.StringIO()
    classify_lines(io.StringIO('{"body": "kein WLAN"}\n'), out, text_field="body", lang="de")
    assert json.loads(out.getvalue())["complaint"] is True
    with pytest.raises(ValueError):
        classify_lines(io.StringIO("x\n"), io.StringIO(), lang="fr")
