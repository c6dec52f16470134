"""The classifier compiled by mypyc (./dev setup) gives exactly the Python source's results,
lexicon and trained model alike, and a compiled build older than its source is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams.classification.compiled import PACKAGE_DIR, compiled_files, is_compiled
from tools.compile_classifier import copy_sources

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MENTIONWATCH_SHARED_DATA", REPO.parent / "shared" / "data"))

# Classifies texts with the lexicon and with a model trained on the spot; prints every result
# exactly (floats by repr) and which files ran.
PROBE = r"""
import csv, hashlib, json, sys
import streams.classification.engine as engine
from streams.classification import LexiconClassifier
from streams.classification.model import LabelledText, load_model, train

texts = json.loads(sys.stdin.read())
csv.field_size_limit(10_000_000)
with open(sys.argv[1], encoding="utf-8", newline="") as handle:
    rows = list(csv.DictReader(handle))[:1500]
examples = [LabelledText(r["text"], "en", r["airline_sentiment"], id=r["tweet_id"]) for r in rows]
model_bytes = train(examples).to_bytes()
lexicon = LexiconClassifier()
model = load_model(model_bytes, lexicon=LexiconClassifier())

def exact(c):
    return [c.language, c.sentiment, repr(c.sentiment_score), c.complaint,
            repr(c.complaint_score)]

print(json.dumps({
    "engine": engine.__file__,
    "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
    "lexicon": [exact(lexicon.classify(t)) for t in texts],
    "model": [exact(model.classify(t)) for t in texts],
    "predict": [{k: repr(v) for k, v in model.predict(t).items()} for t in texts[:200]],
}))
"""


def _texts() -> list[str]:
    import csv

    csv.field_size_limit(10_000_000)
    with (SHARED_DATA / "airline" / "dev.csv").open(encoding="utf-8", newline="") as handle:
        english = [r["text"] for r in csv.DictReader(handle)][1500:3000]
    with (SHARED_DATA / "germeval2017" / "dev.tsv").open(encoding="utf-8", newline="") as handle:
        german = [r["text"] for r in csv.DictReader(handle, delimiter="\t",
                                                     quoting=csv.QUOTE_NONE)][:1000]
    hostile = ["", " ", "@x", "&amp;&lt;b&gt;", "a" * 3000, "flight " * 300, "İ ΟΔΟΣ ß ﬁ",
               "😡🙄 :-) <3 #NeverAgain ?!?", "\x00\x1f\x7f", "\ud800 surrogate"]
    return english + german + hostile


def _probe(pythonpath: Path, texts: list[str]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(SHARED_DATA / "airline" / "dev.csv")],
        input=json.dumps(texts), capture_output=True, text=True, cwd=pythonpath, env=env,
        timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _copy_package(dest: Path, *, with_compiled: bool) -> Path:
    package = copy_sources(PACKAGE_DIR, dest)
    if with_compiled:
        for path in [*compiled_files(), PACKAGE_DIR / "compiled.sha256"]:
            shutil.copy2(path, package / path.name)
    return package


def _require_compiled() -> None:
    if is_compiled():
        return
    if os.environ.get("MENTIONWATCH_EXPECT_COMPILED") == "1":
        pytest.fail("./dev set up the compiled classifier, but the Python source was imported")
    pytest.skip("the classifier is not compiled here (python -m tools.compile_classifier)")


def test_compiled_and_python_give_identical_results(tmp_path: Path) -> None:
    _require_compiled()
    texts = _texts()
    _copy_package(tmp_path / "pure", with_compiled=False)
    python = _probe(tmp_path / "pure", texts)
    compiled = _probe(REPO, texts)
    assert str(python["engine"]).startswith(str(tmp_path)) and str(python["engine"]).endswith(
        ".py")
    assert str(compiled["engine"]).endswith(".so")
    assert compiled["model_sha256"] == python["model_sha256"]  # training too, byte for byte
    for key in ("lexicon", "model", "predict"):
        assert compiled[key] == python[key], key
    complaints = sum(1 for c in python["model"] if c[3])  # type: ignore[union-attr]
    assert 0 < complaints < len(texts)


def test_a_compiled_build_older_than_its_source_is_refused(tmp_path: Path) -> None:
    _require_compiled()
    package = _copy_package(tmp_path, with_compiled=True)
    probe = ("import streams.classification as c, streams.classification.compiled as k; "
             "print(k.is_compiled(), c.classify('delayed again, terrible').complaint)")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=120, check=False)

    current = run()
    assert current.returncode == 0 and current.stdout.split() == ["True", "True"], current.stderr
    engine = next(package.glob("engine.*.so"))
    kept = engine.rename(engine.with_suffix(".kept"))  # a build missing one module
    incomplete = run()
    assert incomplete.returncode == 1 and "incomplete" in incomplete.stderr, incomplete.stderr
    kept.rename(engine)
    with (package / "engine.py").open("a") as handle:
        handle.write("\n# an edit after the build\n")
    stale = run()
    assert stale.returncode == 1
    assert "built from other sources" in stale.stderr and "./dev setup" in stale.stderr
    cleaned = subprocess.run(
        [sys.executable, "-m", "tools.compile_classifier", "--clean", "--package", str(package)],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not compiled_files(package)
    python = run()
    assert python.returncode == 0 and python.stdout.split() == ["False", "True"], python.stderr
