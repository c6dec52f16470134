"""A trained sentiment/complaint/relevance model on top of the lexicon (pure: no I/O, no clock).

Features of a text: the lexicon's two scores and a few cheap text-level signals (dense), and
word uni-/bigrams and character n-grams of the words (sparse, binary, each group scaled to unit
length). One linear model per task: multinomial logistic regression for the sentiment
(negative/neutral/positive), binary logistic regression for complaint and relevance, each only
when the labels have it. Fitted by SGD with L2 regularisation in a fixed order (seeded
shuffles), so the same examples and settings always give the same model, byte for byte.

A model is data, not code: :meth:`TrainedModel.to_bytes` gives canonical JSON with its format,
version, feature settings, weights, training metadata and the sha256 of everything else;
:func:`load_model` checks all of them (unknown keys included) before building the classifier.
The shell reads the file; this module only parses bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import operator
import random
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cache import GenerationalCache
from .engine import LexiconClassifier, Piece, default_classifier
from .packed import MAX_WEIGHT, Layout
from .text import normalise_text
from .types import SENTIMENTS, Classification

FORMAT = "mentionwatch-classifier-model"
FORMAT_VERSION = 1
TASKS: tuple[str, ...] = ("sentiment", "complaint", "relevant")
DENSE_FEATURES: tuple[str, ...] = (
    "bias", "lexicon_sentiment", "lexicon_complaint", "lexicon_complaint_logit",
    "lexicon_negative", "lexicon_positive", "addressed", "question", "exclamation", "log_words",
)
_DOCUMENT_KEYS = frozenset(
    {"format", "format_version", "features", "vocabulary", "heads", "training", "sha256"}
)
_HEAD_KEYS = frozenset({"classes", "dense", "sparse"})


# The complaint probability at which the model says "complaint": below 0.5 because a missed
# complaint costs more than a false alarm to a care team, and because the cut that maximises F1
# is half the F1 reached (Lipton et al. 2014: 0.3-0.45 for F1 of 0.6-0.9). complaint_score is
# rescaled so that this cut is 0.5, the threshold every backend shares.
COMPLAINT_CUT = 0.4
# A dense weight beyond this is no trained model's (they are below 100).
MAX_DENSE_WEIGHT = 1e6


def _rescale(p: float, cut: float) -> float:
    """Piecewise-linear, monotone map of [0, 1] onto itself that sends ``cut`` to 0.5."""
    if p < cut:
        return 0.5 * p / cut
    return 0.5 + 0.5 * (p - cut) / (1.0 - cut)


# Words whose features a model keeps ready, per generation (see .cache).
_CACHE_LIMIT = 100_000
_MODEL_KEYS = itertools.count(1)


class ModelError(ValueError):
    """A model file that can't be used (not JSON, wrong format or version, tampered)."""


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """What the sparse features are; stored in the model so prediction repeats it exactly."""

    word_ngrams: int = 2  # 1: unigrams; 2: uni- and bigrams
    char_min: int = 3  # character n-grams of each word padded with spaces, lengths char_min..max
    char_max: int = 5
    min_count: int = 2  # a feature seen in fewer training texts is dropped
    max_tokens: int = 120  # long texts (news, forum posts): the first this many tokens

    def to_dict(self) -> dict[str, int]:
        return {"word_ngrams": self.word_ngrams, "char_min": self.char_min,
                "char_max": self.char_max, "min_count": self.min_count,
                "max_tokens": self.max_tokens}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSettings:
        expected = set(cls().to_dict())
        if not isinstance(data, Mapping) or set(data) != expected:
            raise ModelError(f"features must have exactly the keys {sorted(expected)}")
        values = {k: data[k] for k in expected}
        if not all(type(v) is int and 0 <= v <= 1000 for v in values.values()):
            raise ModelError("features: every setting must be a small non-negative integer")
        settings = cls(**values)
        if settings.word_ngrams not in (1, 2) or not 1 <= settings.char_min <= settings.char_max:
            raise ModelError("features: word_ngrams must be 1 or 2 and 1 <= char_min <= char_max")
        if settings.char_max > 16:
            raise ModelError("features: char_max must be at most 16")
        return settings


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    epochs: int = 10
    l2: float = 3e-5
    learning_rate: float = 0.5
    seed: int = 16
    balance: float = 1.0


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One training example; a label that is None is unknown (that task ignores it)."""

    text: str
    lang: str | None = None
    sentiment: str | None = None
    complaint: bool | None = None
    relevant: bool | None = None
    id: str | None = None


# ------------------------------------------------------------------------------ features
_TOKEN = re.compile(r"https?://\S+|www\.\S+|@\w+|#?\w+|[^\w\s]")


def normalise(tok: str) -> str:
    """@handles, URLs and numbers as placeholders, '#' dropped (tokens are lower case)."""
    c0 = tok[0]
    if c0 == "@" and len(tok) > 1:
        return "@user"
    if c0 == "#" and len(tok) > 1:
        return tok[1:]
    if tok.startswith(("http", "www.")) and ("/" in tok or "." in tok):
        return "<url>"
    if tok.isdigit():
        return "<num>"
    return tok


def chunk_tokens(chunk: str) -> tuple[str, ...]:
    """The normalised tokens of one whitespace-free piece of text. No token spans whitespace,
    so a text's tokens are its pieces' tokens in order (and pieces repeat: callers cache)."""
    lowered = chunk.lower()
    if lowered.isalnum():  # one plain word or number (most pieces): one \w+ token
        return (normalise(lowered),)
    return tuple(normalise(tok) for tok in _TOKEN.findall(lowered))


def tokens(text: str, max_tokens: int) -> list[str]:
    """A text's first max_tokens tokens, lower-cased and normalised (after HTML entities are
    unescaped: the pieces the lexicon sees)."""
    out: list[str] = []
    for chunk in normalise_text(text)[0].split():
        out += chunk_tokens(chunk)
    return out[:max_tokens]


# Character n-grams are taken of a word's first this many characters: longer "words" are
# run-together hashtags or keyboard mashing, and a bound keeps a text's n-grams countable
# (see .packed).
MAX_NGRAM_WORD = 64


def char_ngrams(tok: str, settings: FeatureSettings) -> list[str]:
    """Character n-grams of one word padded with spaces (every position; none for
    punctuation, emoji, placeholders and one-letter words)."""
    if len(tok) < 2 or not tok[0].isalpha():
        return []
    padded = f" {tok[:MAX_NGRAM_WORD]} "
    size = len(padded)
    return [padded[i:i + n] for n in range(settings.char_min, min(settings.char_max, size) + 1)
            for i in range(size - n + 1)]


def word_ngrams(toks: Sequence[str], settings: FeatureSettings) -> list[str]:
    """The distinct words and (with word_ngrams 2) word pairs, in order of appearance."""
    words = list(dict.fromkeys(toks))
    if settings.word_ngrams >= 2:
        words.extend(dict.fromkeys(f"{a} {b}" for a, b in itertools.pairwise(toks)))
    return words


def sparse_features(toks: Sequence[str], settings: FeatureSettings
                    ) -> tuple[list[str], list[str]]:
    """(word n-grams, character n-grams) of a text's tokens: each word n-gram once; the
    character n-grams of each distinct word, so an n-gram two words share counts twice."""
    chars = [g for tok in dict.fromkeys(toks) for g in char_ngrams(tok, settings)]
    return word_ngrams(toks, settings), chars


def dense_features(text: str, lexicon: Classification) -> list[float]:
    words = text.split()
    stripped = text.lstrip()
    return [
        1.0,
        lexicon.sentiment_score,
        2.0 * lexicon.complaint_score - 1.0,
        _logit(lexicon.complaint_score) / 4.0,
        1.0 if lexicon.sentiment == "negative" else 0.0,
        1.0 if lexicon.sentiment == "positive" else 0.0,
        1.0 if stripped.startswith("@") else 0.0,
        1.0 if "?" in text else 0.0,
        1.0 if "!" in text else 0.0,
        math.log1p(len(words)) / 4.0,
    ]


@dataclass(slots=True)
class _Row:
    words: list[int]
    chars: list[int]
    word_scale: float
    char_scale: float
    dense: list[float]


def _row(words: Iterable[str], chars: Iterable[str], dense: list[float],
         index: Mapping[str, int]) -> _Row:
    get = index.get
    w = sorted(i for i in map(get, words) if i is not None)
    c = sorted(i for i in map(get, chars) if i is not None)
    return _Row(w, c, 1.0 / math.sqrt(len(w)) if w else 0.0,
                1.0 / math.sqrt(len(c)) if c else 0.0, dense)


# ------------------------------------------------------------------------------ linear heads
@dataclass(slots=True)
class _Head:
    """Weights of one task: one vector per class (binary tasks: one vector, for True)."""

    classes: tuple[str, ...]
    dense: list[list[float]]
    sparse: list[list[float]]

    @property
    def binary(self) -> bool:
        return len(self.dense) == 1



def _logit(p: float) -> float:
    p = min(1.0 - 1e-6, max(1e-6, p))
    return math.log(p / (1.0 - p))


def _probabilities(z: Sequence[float]) -> list[float]:
    """Softmax of a multinomial head's scores."""
    top = max(z)
    exps = [math.exp(v - top) for v in z]
    total = sum(exps)
    return [e / total for e in exps]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# An example whose predicted probability is this close to its label moves no weight: after the
# first epochs most examples are, and the update loop is most of the training time.
SKIP_ERROR = 0.05


def _fit_head(rows: Sequence[_Row], targets: Sequence[int], classes: tuple[str, ...],
              binary: bool, n_sparse: int, settings: TrainingSettings,
              class_weights: Sequence[float] | None = None) -> _Head:
    """SGD on the log loss with L2 (Bottou's schedule, the regulariser applied lazily as a
    scale of the sparse weights). ``targets``: class index, or 1/0 for a binary task."""
    k = 1 if binary else len(classes)
    n_dense = len(DENSE_FEATURES)
    dense = [[0.0] * n_dense for _ in range(k)]
    sparse = [[0.0] * n_sparse for _ in range(k)]
    scale = 1.0
    lam, eta0 = settings.l2, settings.learning_rate
    order = list(range(len(rows)))
    rng = random.Random(settings.seed)
    step = 0
    # The weights returned are the mean of the weights after each epoch of the second half
    # (averaged SGD, Polyak & Juditsky 1992): steadier than the last iterate.
    first_averaged = settings.epochs // 2
    dense_sum = [[0.0] * n_dense for _ in range(k)]
    sparse_sum = [[0.0] * n_sparse for _ in range(k)]
    for epoch in range(settings.epochs):
        rng.shuffle(order)
        for i in order:
            row, y = rows[i], targets[i]
            eta = eta0 / (1.0 + eta0 * lam * step)
            step += 1
            scale *= 1.0 - eta * lam
            if scale < 1e-6:  # fold the scale into the weights before it underflows
                for vec in sparse:
                    for j in range(n_sparse):
                        vec[j] *= scale
                scale = 1.0
            zs: list[float] = []
            for c in range(k):
                get = sparse[c].__getitem__
                z = sum(map(float.__mul__, dense[c], row.dense))
                if row.words:
                    z += scale * row.word_scale * sum(map(get, row.words))
                if row.chars:
                    z += scale * row.char_scale * sum(map(get, row.chars))
                zs.append(z)
            if binary:
                errors = [float(y) - _sigmoid(zs[0])]
            else:
                top = max(zs)
                exps = [math.exp(z - top) for z in zs]
                total = sum(exps)
                errors = [(1.0 if c == y else 0.0) - exps[c] / total for c in range(k)]
            for c in range(k):
                err = errors[c]
                if -SKIP_ERROR < err < SKIP_ERROR:  # learnt already: skip the costly update
                    continue
                g = eta * err * (class_weights[y] if class_weights else 1.0)
                dvec = dense[c]
                for j in range(n_dense):
                    dvec[j] += g * row.dense[j]
                vec = sparse[c]
                gw = g * row.word_scale / scale
                for j in row.words:
                    vec[j] += gw
                gc = g * row.char_scale / scale
                for j in row.chars:
                    vec[j] += gc
        if epoch >= first_averaged:
            for c in range(k):
                dense_sum[c] = [a + b for a, b in zip(dense_sum[c], dense[c], strict=True)]
                sparse_sum[c] = [a + scale * b
                                 for a, b in zip(sparse_sum[c], sparse[c], strict=True)]
    n_averaged = settings.epochs - first_averaged
    return _Head(classes, [[w / n_averaged for w in vec] for vec in dense_sum],
                 [[w / n_averaged for w in vec] for vec in sparse_sum])


# ------------------------------------------------------------------------------ the model
def _round(x: float) -> float:
    return float(f"{x:.6g}")


@dataclass(slots=True)
class TrainedModel:
    """A fitted model; a :class:`~streams.classification.Classifier` (``classify``)."""

    features: FeatureSettings
    vocabulary: list[str]
    heads: dict[str, _Head]
    training: dict[str, Any]
    threshold: float = 0.5
    sha256: str = ""
    lexicon: LexiconClassifier = field(default_factory=default_classifier)
    # Prediction: every weight vector of every head in one order (dense weights as lists;
    # sparse weights packed, see .packed: per vocabulary entry one int, by name, and the word
    # pairs' by (word, word)); per word seen, its entry (its own weights as a word plus its
    # character n-grams'). Per piece of text, its tokens and their entries are kept on the
    # lexicon's analysis of the piece (see _features).
    _heads_order: list[tuple[str, int]] = field(default_factory=list)
    _dense_rows: list[list[float]] = field(default_factory=list)
    _layout: Layout = field(default_factory=lambda: Layout(1))
    _packed: dict[str, int] = field(default_factory=dict)
    _pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    _words: GenerationalCache[int] = field(
        default_factory=lambda: GenerationalCache(_CACHE_LIMIT))
    # marks what this model keeps on the lexicon's pieces (unique among the models loaded)
    _key: int = field(default_factory=lambda: next(_MODEL_KEYS))

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = hashlib.sha256(_canonical(self._body())).hexdigest()
        ordered = sorted(self.heads.items())
        self._heads_order = [(name, len(head.sparse)) for name, head in ordered]
        self._dense_rows = [vec for _, head in ordered for vec in head.dense]
        vectors = [vec for _, head in ordered for vec in head.sparse]
        layout = self._layout = Layout(len(vectors))
        self._packed = {sys.intern(name): layout.entry(row)
                        for name, row in zip(self.vocabulary, zip(*vectors, strict=True),
                                             strict=True)}
        # A word pair is "a b"; no token holds a space, and a character n-gram has spaces only
        # at its ends (the padding), so exactly the pairs split into two non-empty words.
        # (Interned, as the tokens are: a hit compares by identity.)
        self._pairs = {}
        if self.features.word_ngrams >= 2:
            for name, packed in self._packed.items():
                pair = name.split(" ")
                if len(pair) == 2 and pair[0] and pair[1]:
                    key = (sys.intern(pair[0]), sys.intern(pair[1]))
                    self._pairs[key] = packed & layout.word_mask

    @property
    def name(self) -> str:
        return f"model:{self.sha256[:12]}"

    @property
    def model_sha256(self) -> str:
        return self.sha256

    def _word(self, tok: str) -> int:
        """The word's entry: its own weights as a word feature (if in the vocabulary) plus its
        character n-grams' (cached)."""
        entry = self._words.recall(tok, None)
        if entry is None:
            get, layout = self._packed.get, self._layout
            own = get(tok, 0) & layout.word_mask
            chars = sum(filter(None, map(get, char_ngrams(tok, self.features))))
            entry = self._words.store(tok, own + (chars & layout.char_mask))
        return entry

    def _word_entry(self, tok: str) -> int:
        entry = self._words.young.get(tok)
        return self._word(tok) if entry is None else entry

    def _chunk(self, chunk: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """A piece of text's tokens (interned: the word pairs' keys are) and their entries."""
        toks = tuple(map(sys.intern, chunk_tokens(chunk)))
        return toks, tuple(map(self._word_entry, toks))

    def _features(self, words: Sequence[str], pieces: Sequence[Piece]
                  ) -> tuple[list[str], list[int]]:
        """tokens() and each token's entry, from the text's pieces as the lexicon cut and
        analysed them: what the model derives from a piece is kept on the lexicon's analysis
        of it (one cache lookup per piece, not two)."""
        key = self._key
        toks: list[str] = []
        entries: list[int] = []
        # (a plain loop: compiled, it reads the pieces' fields directly)
        for word, piece in zip(words, pieces, strict=True):
            if piece.extra_key != key:
                piece.extra_tokens, piece.extra_values = self._chunk(word)
                piece.extra_key = key
            toks.extend(piece.extra_tokens)
            entries.extend(piece.extra_values)
        limit = self.features.max_tokens
        if len(toks) > limit:
            del toks[limit:], entries[limit:]
        return toks, entries

    def _scores(self, toks: Sequence[str], entries: Sequence[int], dense: list[float]
                ) -> list[float]:
        """Each weight vector's score: the same sums as training's (see _row)."""
        total = sum(dict(zip(toks, entries, strict=True)).values())  # each distinct word once
        if self._pairs and len(toks) > 1:
            pairs = dict.fromkeys(itertools.pairwise(toks))  # each distinct pair once
            total += sum(filter(None, map(self._pairs.get, pairs)))
        n_word, words, n_char, chars = self._layout.sums(total)
        word_scale = 1.0 / math.sqrt(n_word) if n_word else 0.0
        char_scale = 1.0 / math.sqrt(n_char) if n_char else 0.0
        return [sum(map(operator.mul, d, dense)) + word_scale * w + char_scale * c
                for d, w, c in zip(self._dense_rows, words, chars, strict=True)]

    def _probabilities_by_task(self, z: list[float]) -> dict[str, float]:
        out: dict[str, float] = {}
        at = 0
        for name, k in self._heads_order:
            if k == 1:
                out["relevant" if name == "relevant" else "complaint"] = _sigmoid(z[at])
            else:
                out.update(zip(SENTIMENTS, _probabilities(z[at:at + k]), strict=True))
            at += k
        return out

    def _lexicon_and_probabilities(self, text: str, lang: str | None
                                   ) -> tuple[Classification, dict[str, float]]:
        lex, words, pieces = self.lexicon.classify_pieces(text, lang)
        toks, entries = self._features(words, pieces)
        return lex, self._probabilities_by_task(
            self._scores(toks, entries, dense_features(text, lex)))

    def predict(self, text: str, lang: str | None = None) -> dict[str, float]:
        """Probabilities: P(negative/neutral/positive) when trained for sentiment, P(complaint)
        and P(relevant) when trained for them."""
        return self._lexicon_and_probabilities(text, lang)[1]

    def classify(self, text: str, lang: str | None = None) -> Classification:
        return self._decide(*self._lexicon_and_probabilities(text, lang))

    def classify_extracted(self, extracted: Extracted) -> Classification:
        """classify() of a text whose features :func:`extract` computed (with the same
        feature settings): cross-validation extracts each text once for all its folds."""
        return self._decide(extracted.lexicon, self.predict_extracted(extracted))

    def predict_extracted(self, extracted: Extracted) -> dict[str, float]:
        toks = extracted.tokens
        entries = list(map(self._word_entry, toks))
        return self._probabilities_by_task(self._scores(toks, entries, extracted.dense))

    def _decide(self, lex: Classification, p: dict[str, float]) -> Classification:
        if "negative" in p:
            sentiment = max(SENTIMENTS, key=p.__getitem__)
            sentiment_score = p["positive"] - p["negative"]
        else:
            sentiment, sentiment_score = lex.sentiment, lex.sentiment_score
        p_complaint = p.get("complaint", p.get("negative", lex.complaint_score))
        # A complaint about something else is not a complaint about the brand: both must hold.
        complaint_score = _rescale(min(p_complaint, p.get("relevant", 1.0)), COMPLAINT_CUT)
        complaint = complaint_score >= self.threshold
        return Classification(
            language=lex.language,
            sentiment=sentiment,
            sentiment_score=min(1.0, max(-1.0, sentiment_score)),
            complaint=complaint,
            complaint_score=min(1.0, max(0.0, complaint_score)),
        )

    # -------------------------------------------------------------------- serialisation
    def _body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "features": self.features.to_dict(),
            "vocabulary": self.vocabulary,
            "heads": {name: {"classes": list(h.classes), "dense": h.dense, "sparse": h.sparse}
                      for name, h in sorted(self.heads.items())},
            "training": self.training,
        }

    def to_bytes(self) -> bytes:
        """The model file: canonical JSON (sorted keys, no spaces) with its sha256."""
        return _canonical({**self._body(), "sha256": self.sha256}) + b"\n"


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


# ------------------------------------------------------------------------------ training
def _targets(examples: Sequence[LabelledText]) -> dict[str, list[int | None]]:
    """Per task, each example's target (None: not labelled for it). A complaint label missing
    where the sentiment is known is derived from it: negative = complaint."""
    out: dict[str, list[int | None]] = {t: [] for t in TASKS}
    for ex in examples:
        out["sentiment"].append(SENTIMENTS.index(ex.sentiment) if ex.sentiment else None)
        complaint = ex.complaint
        if complaint is None and ex.sentiment is not None:
            complaint = ex.sentiment == "negative"
        out["complaint"].append(None if complaint is None else int(complaint))
        out["relevant"].append(None if ex.relevant is None else int(ex.relevant))
    return out


@dataclass(frozen=True, slots=True)
class Extracted:
    """A text's features before they meet a vocabulary."""

    lexicon: Classification
    tokens: tuple[str, ...]
    words: tuple[str, ...]
    chars: tuple[str, ...]
    dense: list[float]


def extract(examples: Sequence[LabelledText], features: FeatureSettings | None = None,
            lexicon: LexiconClassifier | None = None) -> list[Extracted]:
    features = features or FeatureSettings()
    lex = lexicon if lexicon is not None else default_classifier()
    out = []
    for ex in examples:
        toks = tokens(ex.text, features.max_tokens)
        words, chars = sparse_features(toks, features)
        result = lex.classify(ex.text, ex.lang)
        out.append(Extracted(result, tuple(toks), tuple(words), tuple(chars),
                             dense_features(ex.text, result)))
    return out


def train(
    examples: Sequence[LabelledText],
    features: FeatureSettings | None = None,
    settings: TrainingSettings | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    lexicon: LexiconClassifier | None = None,
    extracted: Sequence[Extracted] | None = None,
) -> TrainedModel:
    """Fit a model on ``examples`` (pure and deterministic: the same input gives the same
    bytes). ``metadata`` (e.g. the training date, the label file's name) is stored as given.
    ``extracted``: the examples' features from :func:`extract` with the same settings."""
    features = features or FeatureSettings()
    settings = settings or TrainingSettings()
    lex = lexicon if lexicon is not None else default_classifier()
    if not examples:
        raise ValueError("no training examples")
    if extracted is None:
        extracted = extract(examples, features, lex)
    elif len(extracted) != len(examples):
        raise ValueError("extracted features do not match the examples")
    doc_freq: dict[str, int] = {}
    for ext in extracted:
        for name in ext.words:
            doc_freq[name] = doc_freq.get(name, 0) + 1
        for name in set(ext.chars):
            doc_freq[name] = doc_freq.get(name, 0) + 1
    vocabulary = sorted(n for n, c in doc_freq.items() if c >= features.min_count)
    index = {n: i for i, n in enumerate(vocabulary)}
    rows = [_row(e.words, e.chars, e.dense, index) for e in extracted]
    targets = _targets(examples)
    heads: dict[str, _Head] = {}
    counts: dict[str, dict[str, int]] = {}
    skipped: dict[str, str] = {}
    for task in TASKS:
        labelled = [(r, t) for r, t in zip(rows, targets[task], strict=True) if t is not None]
        classes: tuple[str, ...] = SENTIMENTS if task == "sentiment" else ("false", "true")
        if not labelled:
            continue
        seen = {t for _, t in labelled}
        counts[task] = {classes[c]: sum(1 for _, t in labelled if t == c)
                        for c in range(len(classes))}
        if len(seen) < 2:  # nothing to learn from (e.g. every mention labelled relevant)
            skipped[task] = f"every {task} label is {classes[seen.pop()]}"
            continue
        weights = None
        if task != "sentiment":
            # balanced classes: the 0.5 cut then sits near the best F1 for either base rate
            n_true = counts[task]["true"]
            n = len(labelled)
            weights = [(n / (2.0 * (n - n_true))) ** settings.balance,
                       (n / (2.0 * n_true)) ** settings.balance]
        head = _fit_head([r for r, _ in labelled], [t for _, t in labelled], classes,
                         task != "sentiment", len(vocabulary), settings, weights)
        heads[task] = _Head(head.classes, [[_round(w) for w in v] for v in head.dense],
                            [[_round(w) for w in v] for v in head.sparse])
    if "sentiment" not in heads and "complaint" not in heads:
        reasons = "; ".join(skipped.values()) or "no sentiment or complaint labels"
        raise ValueError(f"nothing to learn: {reasons} (a model needs two values of sentiment "
                         "or complaint)")
    training = {
        "examples": len(examples),
        "labels": counts,
        "not_learnt": skipped,
        "settings": {"epochs": settings.epochs, "l2": settings.l2,
                     "learning_rate": settings.learning_rate, "seed": settings.seed},
        **dict(metadata or {}),
    }
    return _prune(TrainedModel(features, vocabulary, heads, training, lexicon=lex))


def _prune(model: TrainedModel) -> TrainedModel:
    """Drop vocabulary entries whose weights all rounded to zero (a smaller file)."""
    keep = [i for i in range(len(model.vocabulary))
            if any(h.sparse[c][i] for h in model.heads.values() for c in range(len(h.sparse)))]
    if len(keep) == len(model.vocabulary):
        return model
    heads = {name: _Head(h.classes, h.dense, [[vec[i] for i in keep] for vec in h.sparse])
             for name, h in model.heads.items()}
    return TrainedModel(model.features, [model.vocabulary[i] for i in keep], heads,
                        model.training, lexicon=model.lexicon)


# ------------------------------------------------------------------------------ loading
def load_model(data: bytes | str, *, lexicon: LexiconClassifier | None = None) -> TrainedModel:
    """Parse and verify a model file's bytes. Raises :class:`ModelError` for anything that is
    not exactly a model of this format and version with a matching content hash."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelError("not a model file: not UTF-8 text (a pickle or other binary?)"
                             ) from None
    else:
        text = data
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ModelError(f"not a model file: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelError(f"not a model file: 'format' is not {FORMAT!r}")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"model format_version {version!r} is not supported (this version of "
                         f"mentionwatch reads {FORMAT_VERSION}): train the model again")
    unknown = set(doc) - _DOCUMENT_KEYS
    missing = _DOCUMENT_KEYS - set(doc)
    if unknown or missing:
        raise ModelError(f"model file has unknown keys {sorted(unknown)} or misses "
                         f"{sorted(missing)}")
    stored = doc.pop("sha256")
    actual = hashlib.sha256(_canonical(doc)).hexdigest()
    if stored != actual:
        raise ModelError(f"model file's content hash does not match (stored {str(stored)[:12]}"
                         f"…, content {actual[:12]}…): it was changed after training")
    features = FeatureSettings.from_dict(doc["features"])
    vocabulary = doc["vocabulary"]
    if not isinstance(vocabulary, list) or not all(isinstance(v, str) for v in vocabulary):
        raise ModelError("model vocabulary must be a list of strings")
    heads = _parse_heads(doc["heads"], len(vocabulary))
    training = doc["training"]
    if not isinstance(training, dict):
        raise ModelError("model training metadata must be an object")
    return TrainedModel(features, vocabulary, heads, training, sha256=actual,
                        lexicon=lexicon if lexicon is not None else default_classifier())


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a model may hold")


def _parse_heads(raw: Any, n_sparse: int) -> dict[str, _Head]:
    if not isinstance(raw, dict) or not raw or set(raw) - set(TASKS):
        raise ModelError(f"model heads must be some of {list(TASKS)}")
    heads: dict[str, _Head] = {}
    for name, head in raw.items():
        if not isinstance(head, dict) or set(head) != _HEAD_KEYS:
            raise ModelError(f"model head {name!r} must have exactly {sorted(_HEAD_KEYS)}")
        classes = head["classes"]
        expected = list(SENTIMENTS) if name == "sentiment" else ["false", "true"]
        if classes != expected:
            raise ModelError(f"model head {name!r}: classes must be {expected}")
        k = len(expected) if name == "sentiment" else 1
        dense, sparse = head["dense"], head["sparse"]
        if not (_matrix(dense, k, len(DENSE_FEATURES), MAX_DENSE_WEIGHT)
                and _matrix(sparse, k, n_sparse, MAX_WEIGHT)):
            raise ModelError(f"model head {name!r}: weights of the wrong shape or type, or "
                             f"beyond +-{MAX_WEIGHT:g} (word and n-gram weights) or "
                             f"+-{MAX_DENSE_WEIGHT:g} (the others)")
        heads[name] = _Head(tuple(classes), [[float(w) for w in v] for v in dense],
                            [[float(w) for w in v] for v in sparse])
    if "sentiment" not in heads and "complaint" not in heads:
        raise ModelError("model has neither a sentiment nor a complaint head")
    return heads


def _matrix(value: Any, rows: int, cols: int, bound: float) -> bool:
    return (isinstance(value, list) and len(value) == rows
            and all(isinstance(v, list) and len(v) == cols
                    and all(type(w) in (int, float) and -bound <= w <= bound for w in v)
                    for v in value))
