"""The trained model (issue 16): deterministic training, a model file that is data and is
verified on load, relevance, label files, the commands' errors, and label-sample's choice."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agents.cli import main as cli
from agents.label_sample import Candidate, select, to_csv
from agents.labels import LabelError, read_labels
from agents.train_cli import cross_validate, fold_of, train_model
from schemas.models import Author, Mention
from streams.classification import ModelError, get_classifier, load_model, with_threshold
from streams.classification.model import FORMAT_VERSION, LabelledText, TrainedModel, train

REPO = Path(__file__).resolve().parents[1]

COMPLAINTS_EN = [
    "@airline my flight is delayed again, three hours and nobody tells us anything",
    "@airline lost my bag, still no answer from customer service",
    "@airline worst service ever, cancelled flight and no refund",
    "@airline been on hold for two hours, this is ridiculous",
    "@airline the wifi does not work and the seat is broken",
    "@airline why is my flight cancelled again? terrible",
]
PRAISE_EN = [
    "@airline thank you, the crew was amazing today",
    "@airline great flight, friendly staff, on time",
    "@airline love the new seats, thanks!",
    "@airline best service, quick answer, thank you",
]
NEUTRAL_EN = [
    "@airline what time does boarding start for flight 12?",
    "@airline is there a direct flight to Denver in March?",
    "@airline do you fly to Boston on sundays",
    "@airline how many bags can I take on board",
]
COMPLAINTS_DE = [
    "@bahn schon wieder 40 Minuten Verspätung, danke für nichts",
    "@bahn Zug fällt aus und keine Durchsage, unmöglich",
    "@bahn kein WLAN, Klimaanlage kaputt, so eine Frechheit",
    "@bahn Anschluss verpasst wegen Verspätung, ich bin sauer",
]
PRAISE_DE = [
    "@bahn danke, heute alles pünktlich und freundliches Personal",
    "@bahn super Service, vielen Dank!",
]
# Negative, but not about the brand: weather, football, another company's news.
OFF_TOPIC = [
    "terrible weather today, storm and rain all day, awful",
    "our team lost again, worst match of the season, disgusting",
    "the new phone is broken after two days, never buying that brand again",
    "schreckliches Wetter, Sturm und Regen, furchtbar",
    "das Spiel war eine Katastrophe, schlimmste Leistung der Saison",
    "my neighbour's dog barked all night, horrible",
]


def _examples() -> list[LabelledText]:
    out: list[LabelledText] = []
    for i, text in enumerate(COMPLAINTS_EN + COMPLAINTS_DE):
        out.append(LabelledText(text, None, "negative", True, True, f"c{i}"))
    for i, text in enumerate(PRAISE_EN + PRAISE_DE):
        out.append(LabelledText(text, None, "positive", False, True, f"p{i}"))
    for i, text in enumerate(NEUTRAL_EN):
        out.append(LabelledText(text, "en", "neutral", False, True, f"n{i}"))
    for i, text in enumerate(OFF_TOPIC):
        out.append(LabelledText(text, None, "negative", True, False, f"o{i}"))
    return out


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    return train(_examples(), metadata={"trained_at": "2026-12-03T00:00:00+00:00"})


def test_training_is_deterministic_and_independent_of_the_file_order() -> None:
    examples = _examples()
    first = train_model(examples, trained_at="t", source="s", mentionwatch_version="v")
    again = train_model(list(reversed(examples)), trained_at="t", source="s",
                        mentionwatch_version="v")
    assert first.to_bytes() == again.to_bytes()
    assert first.name == f"model:{first.sha256[:12]}"
    other = train_model(examples[1:], trained_at="t", source="s", mentionwatch_version="v")
    assert other.sha256 != first.sha256


def test_the_model_learns_complaints_sentiment_and_relevance(model: TrainedModel) -> None:
    complaint = model.classify("@airline my flight is cancelled and my bag is lost, terrible")
    assert complaint.complaint is True and complaint.sentiment == "negative"
    praise = model.classify("@airline thank you, amazing crew and friendly staff")
    assert praise.complaint is False and praise.sentiment == "positive"
    assert model.classify("@bahn Zug fällt aus, schon wieder Verspätung").complaint is True


def test_a_complaint_not_about_the_brand_is_not_a_complaint(model: TrainedModel) -> None:
    text = "awful weather, storm and rain again, horrible match too"
    p = model.predict(text)
    assert p["relevant"] < 0.5
    result = model.classify(text)
    assert result.complaint is False
    assert result.complaint_score < 0.5
    # the same words aimed at the brand are one
    assert model.classify("@airline awful service again, horrible").complaint is True


def test_the_model_file_round_trips_exactly(model: TrainedModel) -> None:
    data = model.to_bytes()
    doc = json.loads(data)
    assert doc["format"] == "mentionwatch-classifier-model"
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["training"]["trained_at"] == "2026-12-03T00:00:00+00:00"
    assert doc["training"]["examples"] == len(_examples())
    assert set(doc["heads"]) == {"sentiment", "complaint", "relevant"}
    loaded = load_model(data)
    assert loaded.sha256 == model.sha256 and loaded.name == model.name
    assert loaded.to_bytes() == data
    for ex in _examples():
        assert loaded.classify(ex.text, ex.lang) == model.classify(ex.text, ex.lang)


def test_a_changed_model_file_is_refused(model: TrainedModel) -> None:
    doc = json.loads(model.to_bytes())
    doc["heads"]["complaint"]["dense"][0][0] += 1.0
    with pytest.raises(ModelError, match="content hash does not match"):
        load_model(json.dumps(doc).encode())


def test_another_format_version_is_refused(model: TrainedModel) -> None:
    doc = json.loads(model.to_bytes())
    doc["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ModelError, match="format_version 2 is not supported"):
        load_model(json.dumps(doc).encode())
    doc["format"] = "something-else"
    with pytest.raises(ModelError, match="not a model file"):
        load_model(json.dumps(doc).encode())


class _Payload:
    """A pickle that would run code on load (creates a file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_loading_a_model_can_not_run_code(tmp_path: Path, model: TrainedModel) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ModelError, match="not a model file"):
        load_model(pickle.dumps(_Payload(marker)))
    assert not marker.exists()
    # A JSON document with an object-reviving key (jsonpickle style) is refused, verified or not
    doc = json.loads(model.to_bytes())
    doc["py/reduce"] = [{"py/function": "os.system"}, {"py/tuple": [f"touch {marker}"]}]
    with pytest.raises(ModelError, match="unknown keys"):
        load_model(json.dumps(doc).encode())
    doc = json.loads(model.to_bytes())
    doc["heads"]["complaint"]["__reduce__"] = "os.system"
    with pytest.raises(ModelError):
        load_model(json.dumps(doc).encode())
    assert not marker.exists()
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(b'{"format": NaN}')


def test_threshold_wrapping_keeps_the_model_hash(model: TrainedModel) -> None:
    wrapped = with_threshold(model, 0.9)
    assert getattr(wrapped, "name", None) == model.name
    assert getattr(wrapped, "model_sha256", None) == model.sha256
    strict = with_threshold(model, 1.0)
    assert strict.classify("@airline lost my bag, terrible service").complaint is False


def test_get_classifier_reads_a_model_only_through_the_caller(model: TrainedModel) -> None:
    data = model.to_bytes()
    backend = get_classifier("model:/some/where.json", read_model=lambda path: data)
    assert getattr(backend, "name", None) == model.name
    with pytest.raises(ValueError, match="read_model"):
        get_classifier("model:/some/where.json")


def test_folds_follow_the_id_and_cover_every_example() -> None:
    examples = _examples()
    assert [fold_of(e, 5) for e in examples] == [fold_of(e, 5) for e in examples]
    moved = [LabelledText(e.text + " changed", id=e.id) for e in examples]
    assert [fold_of(e, 5) for e in moved] == [fold_of(e, 5) for e in examples]
    result = cross_validate(examples, 3)
    assert sum(result["fold_sizes"]) == len(examples)
    assert set(result["systems"]) == {"model", "lexicon", "majority"}
    for metrics in result["systems"].values():
        assert 0.0 <= metrics["complaint_f1"] <= 1.0


# ------------------------------------------------------------------------- label files
def test_label_files_csv_and_jsonl(tmp_path: Path) -> None:
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text(
        "id,brand,lang,text,sentiment,complaint,relevant\n"
        "1,db,de,Zug fällt aus,negative,yes,true\n"
        "2,db,,'=not a formula,,no,\n"
        '3,db,en,"@db a, quoted text",positive,,\n'
        "4,db,en,not labelled yet,,,\n", encoding="utf-8")
    labels = read_labels(csv_file)
    assert labels.unlabelled == 1
    first, second, third = labels.examples
    assert (first.lang, first.sentiment, first.complaint, first.relevant) == (
        "de", "negative", True, True)
    assert second.text == "=not a formula" and second.complaint is False
    assert second.sentiment is None and second.lang is None
    assert third.text == "@db a, quoted text" and third.id == "3"
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text('{"text": "kein WLAN", "complaint": true}\n\n'
                     '{"text": "danke", "sentiment": "positive", "relevant": false}\n',
                     encoding="utf-8")
    assert [e.complaint for e in read_labels(jsonl).examples] == [True, None]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.csv", "text,sentiment\nok,negative\nfine,angry\n", r"bad\.csv:3: sentiment must be"),
    ("bad.csv", "text,complaint\nok,maybe\n", r"bad\.csv:2: complaint must be true or false"),
    ("bad.csv", "body,sentiment\nx,negative\n", r"bad\.csv:1: no 'text' column"),
    ("bad.jsonl", '{"text": "a", "sentiment": "negative"}\n{"text": \n', r"bad\.jsonl:2: not JSON"),
    ("bad.jsonl", '{"sentiment": "negative"}\n', r"bad\.jsonl:1: no text"),
    ("bad.csv", "text,sentiment\nx,\n", r"no labelled rows"),
])
def test_bad_label_files_name_the_line(tmp_path: Path, name: str, content: str,
                                       message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LabelError, match=message):
        read_labels(path)


# ------------------------------------------------------------------------- the commands
def _labels_csv(path: Path) -> Path:
    lines = ["id,text,sentiment,complaint,relevant,lang"]
    for e in _examples():
        text = e.text.replace('"', '""')
        lines.append(f'{e.id},"{text}",{e.sentiment},{e.complaint},{e.relevant},'
                     f'{e.lang or ""}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_train_eval_and_classify_commands(tmp_path: Path) -> None:
    labels = _labels_csv(tmp_path / "labels.csv")
    out = tmp_path / "models" / "care.json"
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(labels), "--out", str(out), "--cv", "3"])
    assert result.exit_code == 0, result.output
    model = load_model(out.read_bytes())
    assert f"wrote {model.name} to {out}" in result.output
    for word in ("model", "lexicon", "majority", "compl-F1", "3-fold"):
        assert word in result.output
    assert list(out.parent.iterdir()) == [out]  # no temporary file left
    evaluated = runner.invoke(cli, ["eval-classifier", "--labels", str(labels), "--model",
                                    str(out), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.output)
    assert figures["classifier"] == model.name
    assert figures["datasets"]["labels.csv"]["systems"]["mentionwatch"]["complaint_f1"] > 0.8
    classified = runner.invoke(cli, ["classify", "--model", str(out)],
                               input="@airline lost my bag, terrible service\n")
    assert classified.exit_code == 0, classified.output
    assert json.loads(classified.output)["complaint"] is True
    env_model = runner.invoke(cli, ["classify"], input="hello\n",
                              env={"MENTIONWATCH_CLASSIFIER": f"model:{out}"})
    assert env_model.exit_code == 0 and json.loads(env_model.output)["language"] in (
        "en", "und", "de")


def test_train_reports_a_bad_line_and_writes_nothing(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("text,sentiment\nZug fällt aus,negative\nok,furious\n", encoding="utf-8")
    out = tmp_path / "model.json"
    result = CliRunner().invoke(cli, ["train", str(labels), "--out", str(out)])
    assert result.exit_code == 2
    assert "labels.csv:3: sentiment must be negative, neutral or positive" in result.output
    assert "Traceback" not in result.output and not out.exists()


def _bad_model_files(tmp_path: Path) -> dict[str, tuple[str, str]]:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "mentionwatch-classifier-model", ', encoding="utf-8")
    tampered = tmp_path / "tampered.json"
    doc = json.loads(train(_examples()).to_bytes())
    doc["training"]["examples"] = 1
    tampered.write_text(json.dumps(doc), encoding="utf-8")
    return {
        "unknown backend": ("bert", "unknown classifier 'bert'"),
        "missing file": (f"model:{tmp_path / 'missing.json'}", "cannot read the model file"),
        "corrupt JSON": (f"model:{corrupt}", "not valid JSON"),
        "bad hash": (f"model:{tampered}", "content hash does not match"),
    }


@pytest.mark.parametrize("command", [["classify"], ["eval-classifier", "--labels", "LABELS"]])
def test_a_bad_classifier_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    labels = _labels_csv(tmp_path / "labels.csv")
    args = [str(labels) if a == "LABELS" else a for a in command]
    for value, message in _bad_model_files(tmp_path).values():
        result = CliRunner().invoke(cli, args, input="x\n",
                                    env={"MENTIONWATCH_CLASSIFIER": value})
        assert result.exit_code == 2, (value, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_a_worker_with_a_bad_classifier_stops_at_once_with_exit_2(tmp_path: Path) -> None:
    """Checked before the broker is contacted: no Kafka needed (nothing listens there)."""
    env = dict(os.environ, MENTIONWATCH_BOOTSTRAP_SERVERS="127.0.0.1:9",
               MENTIONWATCH_HOME=str(tmp_path / "home"), MENTIONWATCH_METRICS_PORT="0")
    for value, message in _bad_model_files(tmp_path).values():
        env["MENTIONWATCH_CLASSIFIER"] = value
        proc = subprocess.run([sys.executable, "-m", "agents.cli", "worker"], env=env,
                              capture_output=True, text=True, timeout=60, cwd=REPO)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: MENTIONWATCH_CLASSIFIER=")
        assert message in lines[0]
    assert not (tmp_path / "home" / "state").exists()  # nothing touched


# ------------------------------------------------------------------------- label-sample
def _candidate(i: int, uncertainty: float) -> Candidate:
    m = Mention(id=f"m{i:03d}", platform="twitter", brand="db",
                author=Author(f"a{i}", f"user{i}", False), text=f"=text {i}",
                created_at="2026-11-01T00:00:00Z", created_at_ms=1_790_000_000_000 + i)
    return Candidate(uncertainty, m, "de")


def test_label_sample_picks_the_least_sure_and_a_seeded_random_share() -> None:
    candidates = [_candidate(i, abs(50 - i) / 100) for i in range(100)]
    candidates.append(_candidate(100, 0.0))  # ties with m050: broken by id
    picked, n_uncertain, n_random = select(list(reversed(candidates)), 10, 0.2, seed=3)
    assert (n_uncertain, n_random, len(picked)) == (8, 2, 10)
    ids = {c.mention.id for c in picked}
    assert {"m050", "m100", "m049", "m051", "m048", "m052", "m047", "m053"} <= ids
    again, _, _ = select(candidates, 10, 0.2, seed=3)
    assert [c.mention.id for c in again] == [c.mention.id for c in picked]
    other_seed = {c.mention.id for c in select(candidates, 10, 0.2, seed=4)[0]}
    assert other_seed != ids
    assert len(select(candidates, 500, 0.2, seed=3)[0]) == 101
    text = to_csv(picked)
    assert text.splitlines()[0] == ("id,brand,platform,created_at,lang,text,sentiment,"
                                    "complaint,relevant")
    assert "'=text 50" in text  # a spreadsheet shows it, never runs it


def test_the_package_ships_no_trained_model() -> None:
    """Nothing fitted on the NC-licensed shared data is shipped: no model file in any package
    directory, and the package data is the lexicon files only."""
    packaged = [p for d in ("streams", "agents", "schemas") for p in (REPO / d).rglob("*")
                if p.is_file() and p.suffix not in (".py", ".pyc")]
    for path in packaged:
        head = path.read_bytes()[:4096]
        assert b"mentionwatch-classifier-model" not in head, path
    data_files = sorted(p.name for p in (REPO / "streams" / "classification" / "data").iterdir())
    assert all(name.endswith(".tsv") for name in data_files), data_files


def test_a_label_with_one_value_is_not_learnt_but_the_others_are(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    rows = ["text,sentiment,relevant"]
    rows += [f'"{e.text}",{e.sentiment},true' for e in _examples()]
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "model.json"
    result = CliRunner().invoke(cli, ["train", str(labels), "--out", str(out), "--cv", "0"])
    assert result.exit_code == 0, result.output
    assert "Note: not learnt: relevant (every relevant label is true)" in result.output
    model = load_model(out.read_bytes())
    assert set(model.heads) == {"sentiment", "complaint"}
    assert model.training["not_learnt"] == {"relevant": "every relevant label is true"}
    only_one = tmp_path / "one.csv"
    only_one.write_text("text,sentiment\na,negative\nb,negative\n", encoding="utf-8")
    failed = CliRunner().invoke(cli, ["train", str(only_one), "--out", str(out), "--cv", "0"])
    assert failed.exit_code == 2 and "nothing to learn" in failed.output
