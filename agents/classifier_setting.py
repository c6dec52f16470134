"""MENTIONWATCH_CLASSIFIER → the classifier every command uses, and the name its records carry.

``lexicon`` (default), ``model:PATH`` (a model file written by ``mentionwatch train``) or
``package.module:attribute``. Anything that can't be used — an unknown backend, a missing or
unreadable file, a file that is not a model, a tampered one, another format version — is a
:class:`ConfigError` with one line saying which, raised before a command starts its work.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from agents.config import ConfigError, Settings
from streams.classification import MODEL_PREFIX, Classifier, get_classifier


def _read_model_file(path: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the model file {path}: {exc.strerror or exc}") from None


@lru_cache(maxsize=4)
def classifier_from_spec(spec: str, threshold: float | None = None,
                         origin: str = "MENTIONWATCH_CLASSIFIER") -> tuple[Classifier, str]:
    """The backend named by ``spec`` and the name enriched records give it: ``model:`` and the
    first 12 hex digits of the model file's sha256 for a model, ``spec`` otherwise. Built once
    per process and arguments (a model file is read once)."""
    what = f"{origin}={spec}" if origin == "MENTIONWATCH_CLASSIFIER" else origin
    try:
        backend = get_classifier(spec, threshold=threshold, read_model=_read_model_file)
    except (ConfigError, ValueError, TypeError, ImportError, AttributeError) as exc:
        raise ConfigError(f"{what}: {exc}") from None
    if spec.strip().startswith(MODEL_PREFIX):
        return backend, str(getattr(backend, "name", spec))
    return backend, spec


def load_classifier(settings: Settings) -> tuple[Classifier, str]:
    """The configured classifier (MENTIONWATCH_CLASSIFIER, MENTIONWATCH_COMPLAINT_THRESHOLD) and
    the name its enriched records carry. Raises ConfigError."""
    return classifier_from_spec(settings.classifier, settings.complaint_threshold)


def model_classifier(path: Path | str, settings: Settings) -> tuple[Classifier, str]:
    """A model file given on the command line (--model PATH), with the configured threshold."""
    return classifier_from_spec(f"{MODEL_PREFIX}{path}", settings.complaint_threshold,
                                origin=f"--model {path}")
