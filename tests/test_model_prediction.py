"""The trained model's fast prediction (packed sums, per-piece caches kept on the lexicon's
pieces) equals its definition computed plainly, on ordinary and hostile text, whatever the
caches hold; and a model file whose weights would not fit is refused."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from streams.classification import LexiconClassifier, ModelError, load_model
from streams.classification.model import (
    FeatureSettings,
    LabelledText,
    TrainedModel,
    _canonical,
    _row,
    dense_features,
    extract,
    sparse_features,
    tokens,
    train,
)
from streams.classification.packed import MAX_WEIGHT, Layout
from streams.classification.types import SENTIMENTS

LABELLED = [
    ("@airline my flight is delayed again, three hours and nobody tells us anything", "negative"),
    ("@airline lost my bag, still no answer from customer service", "negative"),
    ("@airline worst service ever, cancelled flight and no refund", "negative"),
    ("@airline been on hold for two hours, this is ridiculous", "negative"),
    ("@airline the wifi does not work and the seat is broken &amp; dirty", "negative"),
    ("@airline thank you, the crew was amazing today", "positive"),
    ("@airline great flight, friendly staff, on time", "positive"),
    ("@airline love the new seats, thanks!", "positive"),
    ("@airline what time does boarding start for flight 12?", "neutral"),
    ("@airline is there a direct flight to Denver in March?", "neutral"),
    ("@bahn schon wieder 40 Minuten Verspätung, danke für nichts", "negative"),
    ("@bahn Zug fällt aus und keine Durchsage, unmöglich", "negative"),
    ("@bahn danke, heute alles pünktlich und freundliches Personal", "positive"),
    ("@bahn wann fährt der nächste Zug nach Köln?", "neutral"),
]

HOSTILE = [
    "",
    "   \t\n ",
    "a",
    "@x",
    "＠fullwidth handle",
    "http://example.com/a?b=c&amp;d=e www.example.org flight",
    "&amp;&lt;script&gt;alert(1)&lt;/script&gt; flight delayed",
    "flight " * 300,  # beyond max_tokens, every pair the same
    "delayed delayed delayed delayed delayed delayed",
    "my flight, my flight is delayed again: my flight",  # a known pair three times
    "a" * 5000,
    "x" + "y" * 70 + "z flight broken",  # a word longer than the n-gram window
    "İstanbul ΟΔΟΣ Straße ÄÖÜ äöü ß ﬁ flight",
    "e\u0301 cafe\u0301 n\u0303 combining marks",
    "emoji 😡😡😡 🙄 👍🏽 flight",
    "zero\u200bwidth\u00a0nbsp\u2003emspace flight",
    "control \x00 \x1f \x7f chars",
    "12345 3.14 1,000 #hashtag #NeverAgain :-) :( <3 ...!!! ?!?",
    "FLIGHT DELAYED AGAIN!!! WORST SERVICE EVER",
    "\ud800 lone surrogate flight",
]


def _examples() -> list[LabelledText]:
    return [LabelledText(text, None, label, id=str(i)) for i, (text, label) in
            enumerate(LABELLED)]


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    # min_count 1: every word, pair and n-gram of the examples is in the vocabulary
    return train(_examples(), FeatureSettings(min_count=1))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def reference_probabilities(model: TrainedModel, text: str) -> dict[str, float]:
    """The model's definition, plainly: the training features, one float dot product per
    weight vector."""
    lex = LexiconClassifier().classify(text)
    toks = tokens(text, model.features.max_tokens)
    words, chars = sparse_features(toks, model.features)
    index = {name: i for i, name in enumerate(model.vocabulary)}
    row = _row(words, chars, dense_features(text, lex), index)
    out: dict[str, float] = {}
    for name, head in model.heads.items():
        z = [sum(d * x for d, x in zip(dense, row.dense, strict=True))
             + row.word_scale * sum(sparse[j] for j in row.words)
             + row.char_scale * sum(sparse[j] for j in row.chars)
             for dense, sparse in zip(head.dense, head.sparse, strict=True)]
        if len(z) == 1:
            out["complaint" if name == "complaint" else "relevant"] = _sigmoid(z[0])
        else:
            exps = [math.exp(v - max(z)) for v in z]
            out.update(zip(SENTIMENTS, (e / sum(exps) for e in exps), strict=True))
    return out


def test_the_vocabulary_has_every_kind_of_feature(model: TrainedModel) -> None:
    vocabulary = set(model.vocabulary)
    assert "delayed" in vocabulary and "flight delayed" not in vocabulary
    assert "my flight" in vocabulary  # a pair
    assert " fli" in vocabulary and "ght " in vocabulary  # character n-grams
    assert len(model._pairs) > 50


@pytest.mark.parametrize("text", [t for t, _ in LABELLED] + HOSTILE)
def test_prediction_equals_the_definition(model: TrainedModel, text: str) -> None:
    expected = reference_probabilities(model, text)
    fresh = load_model(model.to_bytes(), lexicon=LexiconClassifier())
    for _ in range(2):  # cold caches, then warm ones
        got = fresh.predict(text)
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=1e-7), key


def test_prediction_does_not_depend_on_what_was_seen_before(model: TrainedModel) -> None:
    texts = [t for t, _ in LABELLED] + HOSTILE
    alone = {t: load_model(model.to_bytes(), lexicon=LexiconClassifier()).classify(t)
             for t in texts}
    shared = load_model(model.to_bytes(), lexicon=LexiconClassifier())
    other = load_model(model.to_bytes(), lexicon=shared.lexicon)  # two models, one lexicon
    for text in texts * 2:
        assert shared.classify(text) == alone[text]
        assert other.classify(text) == alone[text]
    # the features computed once for cross-validation give the same answers
    for ext, text in zip(extract([LabelledText(t) for t in texts], model.features), texts,
                         strict=True):
        assert shared.classify_extracted(ext) == alone[text]


def _resigned(doc: dict[str, object]) -> bytes:
    doc.pop("sha256")
    return json.dumps({**doc, "sha256": hashlib.sha256(_canonical(doc)).hexdigest()}).encode()


@pytest.mark.parametrize("part, weight", [("sparse", MAX_WEIGHT * 2), ("sparse", -1e300),
                                          ("dense", 1e7), ("sparse", 10**400)])
def test_a_model_with_weights_out_of_range_is_refused(model: TrainedModel, part: str,
                                                      weight: float) -> None:
    doc = json.loads(model.to_bytes())
    doc["heads"]["complaint"][part][0][0] = weight
    with pytest.raises(ModelError, match="beyond"):
        load_model(_resigned(doc))


@pytest.mark.parametrize("features", [{"char_min": 0}, {"char_max": 17},
                                      {"char_min": 5, "char_max": 4}])
def test_feature_settings_out_of_range_are_refused(model: TrainedModel,
                                                   features: dict[str, int]) -> None:
    doc = json.loads(model.to_bytes())
    doc["features"].update(features)
    with pytest.raises(ModelError, match="char_m"):
        load_model(_resigned(doc))


def test_packed_sums_are_exact_and_bounded() -> None:
    layout = Layout(3)
    a, b = layout.entry([0.5, -1.25, 3.0]), layout.entry([-0.5, 0.25, MAX_WEIGHT])
    n_word, words, n_char, chars = layout.sums(a + b + b)
    assert (n_word, n_char) == (3, 3)
    assert words == chars == [-0.5, -0.75, 3.0 + 2 * MAX_WEIGHT]
    assert layout.sums((a & layout.word_mask) + (b & layout.char_mask)) == (
        1, [0.5, -1.25, 3.0], 1, [-0.5, 0.25, MAX_WEIGHT])
    with pytest.raises(ValueError, match="outside"):
        layout.entry([0.0, MAX_WEIGHT * 1.01, 0.0])
