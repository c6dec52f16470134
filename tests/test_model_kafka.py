"""A care team's loop on the real broker (issue 16): a worker runs a trained model and every
enriched record names it by its hash; label-sample exports the mentions of a time range the
model is least sure of (plus a seeded random share) as a CSV that `train` takes back."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
from conftest import REPO, Stack, consume_all
from test_model import _examples

from agents.label_sample import COLUMNS
from schemas.codec import decode_enriched, format_rfc3339_ms
from streams.classification import load_model
from streams.classification.model import train
from streams.demo import generate

START_MS = 1_790_000_000_000


def _cli(stack: Stack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args],
                          env={**os.environ, **stack.env, **env}, capture_output=True,
                          text=True, timeout=180, cwd=REPO)


def test_worker_with_a_model_then_label_sample_then_train(stack: Stack, tmp_path: Path) -> None:
    from kafka import KafkaProducer

    model_path = tmp_path / "care.json"
    model_path.write_bytes(train(_examples()).to_bytes())
    model = load_model(model_path.read_bytes())
    worker = stack.start_worker(MENTIONWATCH_CLASSIFIER=f"model:{model_path}")

    mentions = list(generate(seed=11, start_ms=START_MS, count=300, rate_per_s=20,
                             id_prefix="ls"))
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap)
    for m in mentions:
        producer.send(stack.topic("mentions.raw"), value=orjson.dumps(m))
    producer.flush()
    producer.close()
    enriched = [decode_enriched(r.value) for r in
                consume_all(stack.bootstrap, stack.topic("mentions.enriched"),
                            expected=len(mentions))]
    assert len(enriched) == len(mentions), worker.log()
    assert {e.enrichment.classifier for e in enriched} == {model.name}
    for e in enriched:  # what the worker recorded is the model's verdict
        if not e.mention.author.is_brand:
            verdict = model.classify(e.mention.text, e.mention.lang)
            assert e.enrichment.complaint == verdict.complaint
            assert e.enrichment.complaint_score == round(verdict.complaint_score, 4)

    customers = {e.mention.id: e.mention for e in enriched if not e.mention.author.is_brand}
    in_range = {i: m for i, m in customers.items()
                if m.created_at_ms < START_MS + 5_000}  # --to cuts the range
    out = tmp_path / "sample.csv"
    args = ("label-sample", "--from", format_rfc3339_ms(START_MS), "--to",
            format_rfc3339_ms(START_MS + 5_000), "--n", "20", "--random-share", "0.25",
            "--seed", "5", "--out", str(out))
    done = _cli(stack, *args, MENTIONWATCH_CLASSIFIER=f"model:{model_path}")
    assert done.returncode == 0, done.stderr
    assert "15 the classifier is least sure of, 5 at random (seed 5)" in done.stderr
    first = out.read_bytes()
    rows = list(csv.DictReader(io.StringIO(first.decode())))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 20
    assert {r["id"] for r in rows} <= set(in_range)
    assert all(r["sentiment"] == r["complaint"] == r["relevant"] == "" for r in rows)
    for r in rows:
        assert r["text"].lstrip("'") == in_range[r["id"]].text
    # the 15 least sure are exactly those nearest the threshold (ties by id)
    ranked = sorted(in_range.values(), key=lambda m: (
        abs(model.classify(m.text, m.lang).complaint_score - 0.5), m.id))
    assert {m.id for m in ranked[:15]} <= {r["id"] for r in rows}
    again = _cli(stack, *args, MENTIONWATCH_CLASSIFIER=f"model:{model_path}")
    assert again.returncode == 0 and out.read_bytes() == first  # reproducible

    # The team labels the sample (here: the stand-in of a person, the model's verdict flipped
    # for every third row) and trains on it.
    for i, r in enumerate(rows):
        complaint = model.classify(in_range[r["id"]].text).complaint != (i % 3 == 0)
        r["sentiment"] = "negative" if complaint else "neutral"
    assert {r["sentiment"] for r in rows} == {"negative", "neutral"}
    labelled = tmp_path / "labelled.csv"
    with labelled.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    trained = _cli(stack, "train", str(labelled), "--out", str(tmp_path / "m2.json"), "--cv",
                   "0")
    assert trained.returncode == 0, trained.stderr
    assert load_model((tmp_path / "m2.json").read_bytes()).training["examples"] == 20

    empty = _cli(stack, "label-sample", "--from", "2020-01-01", "--to", "2020-01-02", "--n",
                 "5", "--out", str(tmp_path / "none.csv"))
    assert empty.returncode == 1 and "no customer mentions in the range" in empty.stderr
    assert not (tmp_path / "none.csv").exists()
