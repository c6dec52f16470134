"""Loading the shipped lexicons (``data/*.tsv``, read with :mod:`importlib.resources`).

File format, one entry per line, ``#`` starts a comment, fields separated by TABs::

    term    valence    complaint    [kind]

* ``valence``: sentiment strength, roughly -4 .. +4 (for ``int``/``dim`` kinds: the boost);
* ``complaint``: how much the term is evidence of a customer complaint (0 .. 3, may be < 0 for
  evidence against, e.g. "on time");
* ``kind`` (optional): ``neg`` negator, ``int`` intensifier, ``dim`` diminisher, ``contrast``
  ("but"), ``func`` a "something works" verb (negated: complaint), ``amen`` an amenity or answer
  noun (negated: complaint), ``thanks``, ``sarc`` sarcasm marker, ``why`` rhetorical-question
  word, ``irr`` an irrealis/deontic modal ("should", "sollte"; the complaint column is the
  evidence added when it blocks a positive word), ``rev`` a reversal ("Streik beendet",
  "Störung behoben", "issue resolved": flips a negative word just before or after it).

``term`` is folded (lower case, umlauts spelled out). A term may contain spaces (a phrase of up to
three words). A trailing ``*`` lets the term match as the *beginning* of a longer word (an English
stem: ``disappoint*``; a German modifier: ``scheiß*`` in "Scheißbahn"), a leading ``*`` lets it
match as the *end* of a longer word (a German compound head: ``*ausfall`` in "Zugausfall").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

from .text import fold

KINDS = frozenset(
    {"", "neg", "int", "dim", "contrast", "func", "amen", "thanks", "sarc", "why", "irr", "rev"}
)


@dataclass(frozen=True, slots=True)
class Entry:
    valence: float
    complaint: float
    kind: str = ""


@dataclass(slots=True)
class Lexicon:
    words: dict[str, Entry] = field(default_factory=dict)
    prefixes: dict[str, Entry] = field(default_factory=dict)
    suffixes: dict[str, Entry] = field(default_factory=dict)
    phrases: dict[tuple[str, ...], Entry] = field(default_factory=dict)

    def merged(self, other: Lexicon) -> Lexicon:
        """A lexicon holding both; entries of ``self`` win on conflicts."""
        return Lexicon(
            {**other.words, **self.words},
            {**other.prefixes, **self.prefixes},
            {**other.suffixes, **self.suffixes},
            {**other.phrases, **self.phrases},
        )


def parse_lexicon(text: str, source: str = "<string>") -> Lexicon:
    lex = Lexicon()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        parts = line.split("\t")
        parts = [p.strip() for p in parts if p.strip() != ""]
        if len(parts) < 3 or len(parts) > 4:
            raise ValueError(f"{source}:{lineno}: expected 3 or 4 TAB-separated fields: {raw!r}")
        term, valence_s, complaint_s = parts[0], parts[1], parts[2]
        kind = parts[3] if len(parts) == 4 else ""
        if kind not in KINDS:
            raise ValueError(f"{source}:{lineno}: unknown kind {kind!r}")
        try:
            entry = Entry(float(valence_s), float(complaint_s), kind)
        except ValueError as exc:
            raise ValueError(f"{source}:{lineno}: bad number in {raw!r}") from exc
        term = fold(term)
        if " " in term:
            words = tuple(term.split())
            if len(words) > 3 or any("*" in w for w in words):
                raise ValueError(f"{source}:{lineno}: phrases have 2-3 plain words: {raw!r}")
            lex.phrases[words] = entry
            continue
        starts = term.startswith("*")
        ends = term.endswith("*")
        bare = term.strip("*")
        if not bare:
            raise ValueError(f"{source}:{lineno}: empty term")
        lex.words.setdefault(bare, entry)
        if ends:
            lex.prefixes[bare] = entry
        if starts:
            lex.suffixes[bare] = entry
    return lex


def load_lexicon(name: str) -> Lexicon:
    """Load ``data/<name>`` shipped inside this package."""
    data = resources.files(__package__ or "streams.classification").joinpath("data", name)
    return parse_lexicon(data.read_text(encoding="utf-8"), name)
