"""Text normalisation and tokenisation for social-media text (pure, no I/O).

Steps: HTML entities are unescaped, URLs and @handles are removed (a leading handle marks the
text as *addressed* to someone), hashtags lose their ``#`` and camel-case hashtags are split into
words, and the rest is cut into word, emoji, emoticon and punctuation tokens. Case is kept on the
tokens so the scorer can see ALL-CAPS emphasis; :func:`fold` gives the lookup key (lower case,
umlauts and ß spelled out, so "Verspätung" and "Verspaetung" meet, as do "Scheiß" and "Scheiss").
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_URL_RE = re.compile(r"(?:https?|ftp)://\S+|\bwww\.\S+", re.I)
# A handle: "@name" not preceded by a word character (so e-mail addresses are left alone).
_HANDLE_RE = re.compile(r"(?<![\w@])[@＠]\w+")
_LEADING_HANDLES_RE = re.compile(r"^\s*(?:[.“\"]?\s*[@＠]\w+[:,]?\s*)+")
_HASHTAG_RE = re.compile(r"#(\w+)")
# Camel-case boundaries inside a hashtag: "NeverAgain" -> "Never Again", "DBfail" -> "DB fail".
_CAMEL_RE = re.compile(
    r"(?<=[a-zäöüß])(?=[A-ZÄÖÜ])|(?<=[A-ZÄÖÜ])(?=[A-ZÄÖÜ][a-zäöüß])|(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])"
)
# Scare quotes around one word ("service") are a cheap sarcasm marker.
_SCARE_QUOTE_RE = re.compile(r"[\"“„‚'‘]([^\W\d_]{3,})[\"”“‘’']")

EMOTICON_PATTERN = (
    r"(?:[<>]?[:;=][\-o*'^]?(?:[()\[\]/\\|*{}@]+|[DPpO](?!\w))|<3+|</3|\^_?\^|-_-)"
)
EMOJI_PATTERN = (
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2190-\u21ff\u3030\u303d\u2639\u263a]"
)
# First pass: words (letters, inner apostrophes) and runs of other visible characters; the
# runs ("!!!", ":-)", "😡😡", "?!") are split by _SYMBOL_RE (cached, they repeat a lot).
_COARSE_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|<3+|[^\w\s]+")
_SYMBOL_RE = re.compile(EMOTICON_PATTERN + "|" + EMOJI_PATTERN + r"|[!?]+|\.{2,}|…|[.,;:]")

_FOLD_TABLE = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "ẞ": "ss",
        "’": "'",
        "é": "e",
        "è": "e",
        "ê": "e",
        "á": "a",
        "à": "a",
        "â": "a",
        "ó": "o",
        "ô": "o",
        "í": "i",
        "ñ": "n",
        "ç": "c",
    }
)
_ELONGATION_RE = re.compile(r"([^\W\d_])\1{2,}")

#: Punctuation tokens that end a clause (negation scope, contrast).
CLAUSE_END = frozenset({".", ";", ":", "…"})


def fold(word: str) -> str:
    """Lookup key of a word: lower case, umlauts/ß spelled out, curly apostrophes straightened."""
    if word.isascii():
        return word.lower()  # the table maps only non-ASCII letters
    return word.lower().translate(_FOLD_TABLE)


def squeeze_elongation(word: str) -> str:
    """"soooo" -> "soo" (letters repeated three or more times are cut to two)."""
    return _ELONGATION_RE.sub(r"\1\1", word)


def is_elongated(word: str) -> bool:
    return _ELONGATION_RE.search(word) is not None


def _split_hashtag(match: re.Match[str]) -> str:
    body = match.group(1)
    return " " + _CAMEL_RE.sub(" ", body) + " "


@dataclass(frozen=True, slots=True)
class Prepared:
    """A text after normalisation."""

    tokens: list[str]
    addressed: bool
    hashtags: tuple[str, ...]
    scare_quoted: frozenset[str]


Chunk = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # tokens, hashtags, scare words
_CHUNK_CACHE: dict[str, Chunk] = {}
_CHUNK_CACHE_LIMIT = 20_000
_EMPTY: tuple[str, ...] = ()


def _is_handle_or_url(chunk: str) -> bool:
    """The whole piece is one @handle or one URL (both unique per tweet, so worth a shortcut)."""
    c0 = chunk[0]
    if c0 == "@" or c0 == "＠":
        return len(chunk) > 1 and chunk[1:].replace("_", "").isalnum()
    scheme = chunk.find("://")
    return (
        scheme > 0
        and chunk[:scheme] in _URL_SCHEMES
        and len(chunk) > scheme + 3
        and "@" not in chunk
        and "＠" not in chunk
    )


_URL_SCHEMES = frozenset({"http", "https", "ftp"})


def analyse_chunk(chunk: str) -> Chunk:
    """Tokens, hashtag bodies and scare-quoted words of one whitespace-free piece of text.

    No rule looks across whitespace, so a text's analysis is the concatenation of its chunks'
    (which repeat a lot and are cached by :func:`prepare`)."""
    if chunk.isalpha():
        return ((chunk,), _EMPTY, _EMPTY)  # one plain word: most pieces
    if chunk.isdigit() or _is_handle_or_url(chunk):
        return (_EMPTY, _EMPTY, _EMPTY)  # what the regexes would remove entirely
    return analyse_chunk_by_regex(chunk)


def analyse_chunk_by_regex(chunk: str) -> Chunk:
    """:func:`analyse_chunk` without its shortcuts (which must give the same answer)."""
    text = chunk
    if "@" in text or "＠" in text:
        text = _HANDLE_RE.sub(" ", text)
    if "://" in text or "www." in text or "WWW." in text:
        text = _URL_RE.sub(" ", text)
    hashtags = _EMPTY
    if "#" in text:
        hashtags = tuple(fold(h) for h in _HASHTAG_RE.findall(text))
        text = _HASHTAG_RE.sub(_split_hashtag, text)
    scare = _EMPTY
    if '"' in text or "“" in text or "„" in text or "'" in text or "‘" in text:
        scare = tuple(fold(w) for w in _SCARE_QUOTE_RE.findall(text))
    tokens: list[str] = []
    for tok in _COARSE_RE.findall(text):
        if tok[0].isalpha():
            tokens.append(tok)
        else:
            tokens.extend(_SYMBOL_RE.findall(tok))
    return (tuple(tokens), hashtags, scare)


def chunk_of(chunk: str) -> Chunk:
    """:func:`analyse_chunk`, cached (the cache is bounded)."""
    hit = _CHUNK_CACHE.get(chunk)
    if hit is None:
        if len(_CHUNK_CACHE) > _CHUNK_CACHE_LIMIT:
            _CHUNK_CACHE.clear()
        hit = _CHUNK_CACHE[chunk] = analyse_chunk(chunk)
    return hit


def normalise_text(text: str) -> tuple[str, bool]:
    """HTML entities unescaped; and whether the text starts with an @handle (is addressed)."""
    if "&" in text:
        text = html.unescape(text)
    addressed = ("@" in text or "＠" in text) and _LEADING_HANDLES_RE.match(text) is not None
    return text, addressed


def prepare(text: str) -> Prepared:
    """Normalise ``text`` and cut it into tokens (see module docstring)."""
    text, addressed = normalise_text(text)
    tokens: list[str] = []
    hashtags: list[str] = []
    scare: list[str] = []
    get = _CHUNK_CACHE.get
    for piece in text.split():
        hit = get(piece) or chunk_of(piece)
        tokens.extend(hit[0])
        if hit[1]:
            hashtags.extend(hit[1])
        if hit[2]:
            scare.extend(hit[2])
    return Prepared(tokens, addressed, tuple(hashtags), frozenset(scare))


def tokenize(text: str) -> list[str]:
    """The tokens of ``text`` after normalisation (see :func:`prepare`)."""
    return prepare(text).tokens
