"""Sentiment and complaint classification of German and English social-media text.

Pure core: no I/O beyond reading the package's own lexicon files, no clock, no Kafka/Faust.

    >>> from streams.classification import classify
    >>> c = classify("@DB_Bahn schon wieder 40 Minuten Verspätung, danke für nichts 🙄")
    >>> c.language, c.sentiment, c.complaint
    ('de', 'negative', True)

Backends are pluggable: :func:`get_classifier` returns the shipped ``"lexicon"`` backend, a
trained model (``"model:PATH"``, its bytes read by the caller, see :mod:`.model`) or loads
``"package.module:attribute"`` (a :class:`Classifier` instance, a zero-argument class/factory
returning one, or a plain function ``(text, lang) -> Classification``).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .compiled import check_not_stale

check_not_stale()  # before the first compiled module is imported (see .compiled)

from .engine import DEFAULT_COMPLAINT_THRESHOLD, LexiconClassifier, default_classifier  # noqa: E402
from .langid import detect_language  # noqa: E402
from .model import ModelError, TrainedModel, load_model  # noqa: E402
from .types import Classification, Classifier  # noqa: E402

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_COMPLAINT_THRESHOLD",
    "MODEL_PREFIX",
    "Classification",
    "Classifier",
    "LexiconClassifier",
    "ModelError",
    "TrainedModel",
    "classify",
    "detect_language",
    "get_classifier",
    "load_model",
    "with_threshold",
]

DEFAULT_BACKEND = "lexicon"
MODEL_PREFIX = "model:"


def classify(
    text: str, lang: str | None = None, *, threshold: float | None = None
) -> Classification:
    """Classify one text with the default lexicon backend.

    ``lang`` ("de"/"en") is trusted when given; anything else means "detect". ``threshold``
    overrides :data:`DEFAULT_COMPLAINT_THRESHOLD` for the ``complaint`` flag of this call.
    """
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    return default_classifier().classify(text, lang, threshold=threshold)


class _FunctionClassifier:
    """Adapts a plain ``(text, lang) -> Classification`` function to :class:`Classifier`."""

    def __init__(self, func: Callable[[str, str | None], Classification], name: str) -> None:
        self._func = func
        self.name = name

    def classify(self, text: str, lang: str | None = None) -> Classification:
        result = self._func(text, lang)
        if not isinstance(result, Classification):
            raise TypeError(f"{self.name} returned {type(result).__name__}, not Classification")
        return result


class _Thresholded:
    """Re-derives ``complaint`` from ``complaint_score`` with a fixed threshold."""

    def __init__(self, backend: Classifier, threshold: float) -> None:
        self._backend = backend
        self.threshold = threshold
        self.name = getattr(backend, "name", type(backend).__name__)
        self.model_sha256: str | None = getattr(backend, "model_sha256", None)

    def classify(self, text: str, lang: str | None = None) -> Classification:
        c = self._backend.classify(text, lang)
        flag = c.complaint_score >= self.threshold
        return c if flag is c.complaint else dataclasses.replace(c, complaint=flag)


def with_threshold(backend: Classifier, threshold: float | None) -> Classifier:
    """``backend`` with its ``complaint`` flag decided by ``threshold`` (None: unchanged).

    For any backend: ``complaint = complaint_score >= threshold``."""
    if threshold is None:
        return backend
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    return _Thresholded(backend, threshold)


@lru_cache(maxsize=8)
def _lexicon_with_threshold(threshold: float) -> LexiconClassifier:
    return LexiconClassifier(threshold=threshold)


def get_classifier(
    name: str | None = None,
    threshold: float | None = None,
    *,
    read_model: Callable[[str], bytes] | None = None,
) -> Classifier:
    """Resolve a backend by name (``threshold``: see :func:`with_threshold`).

    ``None``, ``""`` or ``"lexicon"``: the shipped backend (one shared instance).
    ``"model:PATH"``: a trained model; ``read_model(PATH)`` gives the file's bytes (the core
    reads no files but its own), :func:`load_model` verifies them (raises :class:`ModelError`).
    ``"package.module:attribute"``: import the module and take the attribute — an object with a
    ``classify(text, lang)`` method is used as is; a class or zero-argument factory is called
    once; any other callable is treated as ``(text, lang) -> Classification``.
    """
    if name is None or name.strip() in ("", DEFAULT_BACKEND):
        if threshold is None:
            return default_classifier()
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        return _lexicon_with_threshold(threshold)
    spec = name.strip()
    if spec.startswith(MODEL_PREFIX):
        path = spec[len(MODEL_PREFIX):].strip()
        if not path:
            raise ValueError("model: needs the model file's path, e.g. model:/etc/mw/model.json")
        if read_model is None:
            raise ValueError(f"{spec!r}: the caller must read the model file (read_model)")
        return with_threshold(load_model(read_model(path)), threshold)
    return with_threshold(_load_backend(name), threshold)


def _load_backend(name: str) -> Classifier:
    spec = name.strip()
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(
            f"unknown classifier {name!r}: use 'lexicon', 'model:PATH' or "
            "'package.module:attribute'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import classifier module {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ValueError(f"{module_name!r} has no attribute {attr_path!r}") from exc
    if isinstance(obj, type):
        obj = obj()
    elif not callable(getattr(obj, "classify", None)) and callable(obj):
        # A factory returns a backend; a classifying function returns a Classification.
        try:
            produced = obj()
        except TypeError:
            produced = None
        if produced is not None and callable(getattr(produced, "classify", None)):
            obj = produced
        else:
            return _FunctionClassifier(obj, spec)
    if not callable(getattr(obj, "classify", None)):
        raise TypeError(f"{spec!r} is not a Classifier (no classify(text, lang) method)")
    backend: Classifier = obj
    return backend
