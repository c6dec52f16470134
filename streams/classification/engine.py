"""The default ("lexicon") backend: bilingual lexicon plus rules (pure: no I/O, no clock).

Scoring, in the spirit of VADER (Hutto & Gilbert 2014) and SO-CAL (Taboada et al. 2011) but
written for German and English customer-service text:

* every token gets a lexicon entry (valence, complaint evidence, kind) — exact, then with
  elongation squeezed ("baaad"), inflection stripped ("schlechten", "inkompetenteste"), then as
  a stem ("disappoint*") or, in German, as a compound head ("Zug|ausfall") or modifier
  ("Scheiß|bahn"); run-together hashtags are split at a known word ("#neveragain");
* phrases of two or three words ("on hold", "fällt aus", "nicht schlecht") replace the entries
  of their words;
* intensifiers, ALL CAPS and letter elongation strengthen the next sentiment word, diminishers
  weaken it; negators ("not", "never", "kein", "nicht", "-n't", "less than") flip the next
  sentiment word within three words, and a German clause-final "nicht" flips the word before it
  ("geht nicht"); a negated "it works" verb or amenity noun ("kein WLAN", "no response") is
  complaint evidence, a negation that reaches no sentiment word is weak complaint evidence
  ("my bag didn't arrive");
* irrealis/deontic modals ("should", "sollte", "wäre") block the positive word after them;
* "but"/"aber" down-weights the clause before it; "!" amplifies; "??" is insistence;
* sarcasm: explicit markers (🙄, "#sarcasm", "na toll", "thanks for nothing", scare quotes) and
  two cheap implicit rules ("great, another delay": a clause-initial positive interjection
  followed by punctuation in a text with complaint evidence; "thanks for <complaint>") turn
  positive words negative;
* a sign-off "thanks" after a complaint is politeness and is down-weighted; greeting formulas
  ("Guten Morgen", "have a nice day") and German salutations ("Liebe Bahn, ...") carry nothing;
* evidence beyond a tweet's length (20 words) is damped by sqrt(20 / words);
* a question asking for information ("what time does ...?", "gibt es ...?") with little else
  counts against a complaint; a text of more than 40 words (an article, a forum post, a
  story) has a lower prior.

``complaint_score = sigmoid(bias + cue - 0.8 * valence)`` and ``sentiment_score =
s / sqrt(s^2 + 15)`` with ``s = valence - 0.6 * cue``. All constants are set by hand; see
docs/explanation/classification.md for which were checked against the dev sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .cache import GenerationalCache
from .langid import DE_ONLY, EN_ONLY
from .lexicon import Entry, Lexicon, load_lexicon
from .text import (
    CLAUSE_END,
    analyse_chunk,
    fold,
    is_elongated,
    normalise_text,
    prepare,
    squeeze_elongation,
)
from .types import Classification

#: complaint_score >= this  ->  complaint (docs/explanation/classification.md says why).
DEFAULT_COMPLAINT_THRESHOLD = 0.5

# --- scoring constants (hand-set; VADER's values where the rule is VADER's) -----------------
NEGATION_SCALAR = -0.74  # VADER: a negated sentiment word keeps 74 % of its strength, flipped
BOOST_CAPS = 0.733  # VADER: ALL-CAPS word in a mixed-case text
BOOST_ELONGATION = 0.3
EXCLAMATION_BOOST = 0.292  # VADER, per "!" up to 4
QUESTION_BOOST = 0.18  # VADER, per "?" beyond the first, up to 3
CONTRAST_BEFORE = 0.5  # VADER: "but" halves what came before ...
CONTRAST_AFTER = 1.5  # ... and strengthens what follows
NEGATION_SCOPE = 3  # words after a negator that it can reach
NEGATED_FUNCTION_VALENCE = -1.5  # "doesn't work", "kein WLAN"
NEGATED_FUNCTION_CUE = 1.5
UNATTACHED_NEGATION_CUE = 0.35  # "my bag didn't arrive": reporting what did not happen
UNATTACHED_NEGATION_MAX = 3
INSISTENT_QUESTION_CUE = 0.5  # "??", "?!"
SARCASM_SCALAR = -0.8  # a sarcastic positive word keeps 80 % of its strength, flipped
SARCASM_CUE = 0.8
IMPLICIT_SARCASM_MIN_CUE = 1.0
POLITE_THANKS_SCALAR = 0.3  # "... on hold for 2 hours. Thanks" is politeness, not praise
LENGTH_REF_WORDS = 20.0  # about one 140-character tweet
SENTIMENT_NORM_ALPHA = 15.0  # VADER's normalisation constant
CUE_AS_VALENCE = 0.6  # complaint evidence counted as negative valence for sentiment_score
SENTIMENT_BAND = 0.4  # |sentiment_score| below this is neutral: one clear sentiment word
COMPLAINT_BIAS = -1.2  # no evidence, not addressed: complaint_score 0.23
COMPLAINT_W_CUE = 1.0
COMPLAINT_W_VALENCE = 0.8
ADDRESSED_PRIOR = 0.8  # addressed to someone (starts with @handle): no evidence -> 0.40
INFO_QUESTION_CUE = -1.0  # "what time does ... leave?": asking for information is no complaint
INFO_QUESTION_MAX_CUE = 0.5  # ... unless the text reports a problem besides
LONG_TEXT_WORDS = 40  # two tweets' worth: an article, a forum post or a story ...
LONG_TEXT_PRIOR = -0.3  # ... is less often a complaint to the brand than a short mention

SARCASM_HASHTAGS = frozenset(
    {"sarcasm", "sarkasmus", "ironie", "irony", "not", "ironieaus", "sarcasmalert", "eyeroll"}
)
_INTERJECTION_LEADS = frozenset(
    {"oh", "ohh", "na", "just", "so", "well", "wow", "ach", "ja", "yeah"}
)
_SALUTATIONS = frozenset({"liebe", "lieber", "liebes", "hallo", "hi", "hey", "dear"})
# How a clause ending in "?" that asks for information begins: a question word ("what time
# does ...?", "wann fährt ...?"; not "why"/"warum", rhetorical, nor "where"/"wo": "where is my
# bag?" reports a loss) unless the next word makes it a complaint ("how long", "wie oft"); or a
# verb first with a plain subject ("can I bring ...?", "do you have ...?", "is there ...?",
# "gibt es ...?", "kann ich ...?"), but not "are you ...?" ("are you kidding me?").
_INFO_QUESTION_WORDS = frozenset(
    """what what's whats when when's whens which how how's hows wann wie was welche welcher
    welches welchen""".split()  # noqa: SIM905
)
# ("what the hell?", "what on earth?")
_NOT_INFO_SECONDS = frozenset({"long", "come", "dare", "often", "lange", "oft", "the", "on"})
_INFO_QUESTION_VERBS = frozenset(
    """can could may do does will would is are kann kannst koennen koennt koennte koennten
    darf duerfen gibt gilt ist sind muss muessen bekomme bekommt brauche braucht faehrt
    fahren""".split()  # noqa: SIM905
)
_INFO_QUESTION_SUBJECTS = frozenset(
    "i we u you there my ich wir du ihr sie man es mein meine".split()  # noqa: SIM905
)
_RHETORICAL_PAIRS = frozenset({("are", "you"), ("is", "you"), ("sind", "sie"), ("bist", "du")})

_THANKS_FOR = frozenset({"for", "fuer"})
_GERMAN_POST_NEGATORS = frozenset({"nicht", "nie", "niemals", "nimmer"})
_INFLECTIONS = {
    "en": ("'s", "ing", "ed", "es", "ly", "s", "d"),
    "de": (
        "esten", "ester", "estes", "este", "sten", "ster", "ste",
        "ern", "en", "em", "er", "es", "e", "n", "s",
    ),
    "und": ("'s", "ing", "ed", "en", "es", "er", "e", "s", "n"),
}
_MIN_STEM = 4
_CACHE_LIMIT = 100_000  # words and lexicon entries per cache generation
_CHUNK_CACHE_LIMIT = 50_000  # whitespace-separated pieces per generation (tens of MB in all)
_GERMAN_LETTERS = frozenset("äöüßÄÖÜ")

# token classes in the token-info cache
_WORD = 0
_PUNCT = 1
_SYMBOL = 2
_PUNCT_START = frozenset("!?.,;:…")
_PUNCT_CHARS = _PUNCT_START

TokenInfo = tuple[int, str, bool, bool, float]  # class, key, ALL CAPS, elongated, language vote
_Token = tuple[int, str, bool, bool, "Entry | None"]  # class, key, ALL CAPS, elongated, entry


def _squeeze_all(word: str) -> str:
    """Every run of a repeated letter cut to one ("niiicht" -> "nicht")."""
    return "".join(c for i, c in enumerate(word) if i == 0 or word[i - 1] != c)


_UNKNOWN = Entry(0.0, 0.0, "unknown")  # not looked up yet (None: looked up, not in the lexicon)

def _sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


def _asks_for_information(first: str, second: str) -> bool:
    """Whether a question clause beginning with these two words asks for information."""
    if first in _INFO_QUESTION_WORDS:
        return second not in _NOT_INFO_SECONDS
    return (
        first in _INFO_QUESTION_VERBS
        and second in _INFO_QUESTION_SUBJECTS
        and (first, second) not in _RHETORICAL_PAIRS
    )


def _token_info(tok: str) -> TokenInfo:
    c0 = tok[0]
    if c0.isalpha():
        key = fold(tok)
        if key in ("xd", "xdd"):
            return (_SYMBOL, key, False, False, 0.0)
        vote = 1.0 if key in DE_ONLY else (-1.0 if key in EN_ONLY else 0.0)
        if not tok.isascii() and not _GERMAN_LETTERS.isdisjoint(tok):
            vote += 0.5
        return (_WORD, key, len(tok) > 1 and tok.isupper(), is_elongated(key), vote)
    if c0 in _PUNCT_START and _PUNCT_CHARS.issuperset(tok):
        return (_PUNCT, tok, False, False, 0.0)
    return (_SYMBOL, tok.lower(), False, False, 0.0)


class LexiconClassifier:
    """The shipped bilingual lexicon-and-rules classifier."""

    name = "lexicon"

    def __init__(
        self,
        threshold: float = DEFAULT_COMPLAINT_THRESHOLD,
        lexicons: dict[str, Lexicon] | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        self.threshold = threshold
        if lexicons is None:
            emoji = load_lexicon("emoji.tsv")
            en = load_lexicon("lexicon_en.tsv").merged(emoji)
            de = load_lexicon("lexicon_de.tsv").merged(emoji)
            lexicons = {"en": en, "de": de, "und": en.merged(de)}
        missing = {"en", "de", "und"} - set(lexicons)
        if missing:
            raise ValueError(f"lexicons missing for {sorted(missing)}")
        self._lex = lexicons
        self._entries: dict[str, GenerationalCache[Entry | None]] = {
            k: GenerationalCache(_CACHE_LIMIT) for k in lexicons
        }
        self._tokens: GenerationalCache[TokenInfo] = GenerationalCache(_CACHE_LIMIT)
        self._pieces: GenerationalCache[Piece] = GenerationalCache(_CHUNK_CACHE_LIMIT)
        # compound heads by their last four letters, first parts by their first four, longest
        # first (so an unknown word is checked against a handful of candidates, not all cuts)
        self._suffix_index = {k: _index(lx.suffixes, last=True) for k, lx in lexicons.items()}
        self._prefix_index = {k: _index(lx.prefixes, last=False) for k, lx in lexicons.items()}
        self._phrases = {k: _Phrases.of(lx, german=k == "de") for k, lx in lexicons.items()}

    # ------------------------------------------------------------------ token lookup
    def lookup(self, token: str, lang: str) -> Entry | None:
        """The lexicon entry of one word, emoji or emoticon in ``lang`` (cached)."""
        return self._entry(self._info(token)[1], lang)

    def _info(self, tok: str) -> TokenInfo:
        info = self._tokens.young.get(tok) or self._tokens.recall(tok, None)
        if info is None:
            info = _token_info(tok)
            if info[3]:
                # "gaaanz" -> "ganz", "soooo" -> "soo"/"so": the spelling the lexicon knows
                known = self._lex["und"].words
                key = squeeze_elongation(info[1])
                if key not in known:
                    single = _squeeze_all(key)
                    if single in known:
                        key = single
                info = (info[0], key, info[2], True, info[4])
            self._tokens.store(tok, info)
        return info

    def _piece(self, piece: str) -> Piece:
        """A whitespace-free piece of text analysed (cached: pieces repeat a lot)."""
        hit = self._pieces.recall(piece, None)
        if hit is not None:
            return hit
        tokens, hashtags, scare = analyse_chunk(piece)
        if not tokens and not hashtags and not scare:  # an @handle, a URL, a number
            # (its own object all the same: a classifier built on this one keeps its own
            # analysis of the piece on it, and that differs between handles, URLs, numbers)
            return self._pieces.store(piece, _no_tokens())
        info = self._info
        infos = (info(tokens[0]),) if len(tokens) == 1 else tuple([info(t) for t in tokens])
        return self._pieces.store(piece, Piece(infos, hashtags, scare))

    def _looked_up(self, piece: Piece, lang: str) -> tuple[_Token, ...]:
        """The piece's tokens with their lexicon entries in ``lang`` (kept on the piece)."""
        hashtags = piece.hashtags
        infos = piece.infos
        if len(infos) == 1 and infos[0][0] == _WORD and not hashtags:  # one plain word: most
            cls, key, upper, elongated, _vote = infos[0]
            one: tuple[_Token, ...] = ((cls, key, upper, elongated, self._entry(key, lang)),)
            setattr(piece, lang, one)
            return one
        out: list[_Token] = []
        for cls, key, upper, elongated, _vote in infos:
            entry = self._entry(key, lang) if cls != _PUNCT else None
            if entry is None and cls == _WORD and key in hashtags:
                entry = self.lookup_hashtag(key, lang)
            out.append((cls, key, upper, elongated, entry))
        hit = tuple(out)
        setattr(piece, lang, hit)
        return hit

    def _entry(self, key: str, lang: str) -> Entry | None:
        cache = self._entries[lang]
        hit = cache.young.get(key, _UNKNOWN)
        if hit is _UNKNOWN:
            hit = cache.recall(key, _UNKNOWN)
            if hit is _UNKNOWN:
                hit = cache.store(key, self._lookup_uncached(key, lang))
        return hit  # a known word's entry, or None for a word known to have none

    def _lookup_uncached(self, key: str, lang: str) -> Entry | None:
        lex = self._lex[lang]
        words = lex.words
        hit = words.get(key)
        if hit is not None:
            return hit
        # (an elongated key was squeezed to the lexicon's spelling by _info already)
        stems = [key]
        for suffix in _INFLECTIONS[lang]:
            if key.endswith(suffix) and len(key) - len(suffix) >= 3:
                base = key[: -len(suffix)]
                hit = words.get(base)
                if hit is not None and hit.kind in ("", "func", "amen"):
                    return hit
                stems.append(base)
        if len(key) <= _MIN_STEM:
            return None
        head: Entry | None = None
        if lang != "en":
            by_end = self._suffix_index[lang]
            for stem in stems:
                for suffix, hit in by_end.get(stem[-_MIN_STEM:], ()):
                    if len(suffix) < len(stem) and stem.endswith(suffix):
                        head = hit  # the longest known compound head
                        break
                if head is not None:
                    break
        modifier: Entry | None = None
        for prefix, hit in self._prefix_index[lang].get(key[:_MIN_STEM], ()):
            if key.startswith(prefix):
                modifier = hit  # the longest known first part / stem
                break
        return _combine(head, modifier)

    def lookup_hashtag(self, key: str, lang: str) -> Entry | None:
        """A lower-case run-together hashtag ("#neveragain", "#bahnchaos"): the longest known
        word at its start or end (at least four letters), combined like a compound."""
        cache = self._entries[lang]
        ckey = "#" + key
        hit = cache.young.get(ckey, _UNKNOWN)
        if hit is _UNKNOWN:
            hit = cache.recall(ckey, _UNKNOWN)
        if hit is not _UNKNOWN:
            return hit
        words = self._lex[lang].words
        head: Entry | None = None
        for cut in range(1, len(key) - _MIN_STEM + 1):
            hit = words.get(key[cut:])
            if hit is not None and hit.kind == "" and (hit.valence or hit.complaint):
                head = hit
                break
        modifier: Entry | None = None
        for end in range(len(key) - 1, _MIN_STEM - 1, -1):
            hit = words.get(key[:end])
            if hit is not None and hit.kind == "" and (hit.valence or hit.complaint):
                modifier = hit
                break
        return cache.store(ckey, _combine(head, modifier))

    # ------------------------------------------------------------------ language
    def detect(self, text: str) -> str:
        """``de``, ``en`` or ``und`` (function words, umlauts, then lexicon coverage)."""
        return self._detect([self._info(t) for t in prepare(text).tokens])

    def _detect(self, infos: list[TokenInfo]) -> str:
        vote = 0.0
        for info in infos:
            vote += info[4]
        if vote > 0:
            return "de"
        if vote < 0:
            return "en"
        # Function words do not decide: which lexicon knows more of the words.
        en_words = self._lex["en"].words
        de_words = self._lex["de"].words
        score = 0
        for cls, key, _, _, _ in infos:
            if cls == _WORD:
                in_en = key in en_words
                if in_en != (key in de_words):
                    score += -1 if in_en else 1
        if score > 0:
            return "de"
        if score < 0:
            return "en"
        return "und"

    # ------------------------------------------------------------------ classify
    def classify(
        self, text: str, lang: str | None = None, *, threshold: float | None = None
    ) -> Classification:
        """Classify one text; ``lang`` ("de"/"en") is trusted when given.

        Four phases: the text's tokens with their lexicon entries (:meth:`_tokenised`); one
        left-to-right pass turning them into sentiment items with phrases, negation and the
        other word-level rules (:class:`_Scan`); the text-level rules (:func:`_text_level`);
        the scores (:func:`_scored`)."""
        return self.classify_pieces(text, lang, threshold=threshold)[0]

    def classify_pieces(
        self, text: str, lang: str | None = None, *, threshold: float | None = None
    ) -> tuple[Classification, list[str], list[Piece]]:
        """:meth:`classify`, plus the text's whitespace-separated pieces (after
        :func:`normalise_text`) and their analyses, on which a classifier built on this one
        (the trained model) keeps what it derives from each piece (``Piece.extra_*``): one
        cache lookup per piece instead of two."""
        language, addressed, tokens, sarcasm_tagged, scare, words, pieces = self._tokenised(
            text, lang
        )
        scan = _Scan(self._phrases[language], scare, sarcasm_tagged)
        scan.run(tokens)
        valence, cue = _text_level(scan)
        result = _scored(
            language, addressed, scan.words_seen, valence, cue,
            self.threshold, self.threshold if threshold is None else threshold,
        )
        return result, words, pieces

    def _tokenised(self, text: str, lang: str | None) -> _Tokenised:
        """Phase 1: normalise, decide the language, and look every token up in its lexicon."""
        text, addressed = normalise_text(text)
        tag_list: list[str] = []
        scare_list: list[str] = []
        get, miss = self._pieces.young.get, self._piece
        words = text.split()
        pieces = [get(word) or miss(word) for word in words]
        vote = 0.0
        for piece in pieces:  # (plain loops: compiled, they read the fields directly)
            vote += piece.vote
            if piece.marked:
                tag_list += piece.hashtags
                scare_list += piece.scare
        if lang == "de" or lang == "en":
            language: str = lang
        elif vote > 0:
            language = "de"
        elif vote < 0:
            language = "en"
        else:
            infos: list[TokenInfo] = []
            for piece in pieces:
                infos += piece.infos
            language = self._detect(infos)
        tokens: list[_Token] = []
        for piece in pieces:
            hit = piece.en if language == "en" else piece.de if language == "de" else piece.und
            tokens.extend(hit if hit is not None else self._looked_up(piece, language))
        sarcasm_tagged = bool(tag_list) and not SARCASM_HASHTAGS.isdisjoint(tag_list)
        return language, addressed, tokens, sarcasm_tagged, frozenset(scare_list), words, pieces


class Piece:
    """A whitespace-separated piece of text: its token infos, hashtags, scare-quoted words and
    language vote, and its tokens with their entries per language (``en``, ``de``, ``und``:
    filled on first use). ``extra_tokens`` and ``extra_values``: what a classifier built on the
    lexicon derived from the piece, valid while ``extra_key`` is that classifier's key (a
    positive int)."""

    __slots__ = (
        "de",
        "en",
        "extra_key",
        "extra_tokens",
        "extra_values",
        "hashtags",
        "infos",
        "marked",
        "scare",
        "und",
        "vote",
    )

    def __init__(
        self, infos: tuple[TokenInfo, ...], hashtags: tuple[str, ...], scare: tuple[str, ...]
    ) -> None:
        self.infos = infos
        self.hashtags = hashtags
        self.scare = scare
        vote = 0.0
        for info in infos:
            vote += info[4]
        self.vote = vote
        self.marked = bool(hashtags or scare)
        self.en: tuple[_Token, ...] | None = None
        self.de: tuple[_Token, ...] | None = None
        self.und: tuple[_Token, ...] | None = None
        self.extra_key = 0
        self.extra_tokens: tuple[str, ...] = ()
        self.extra_values: tuple[int, ...] = ()


def _no_tokens() -> Piece:
    """A piece without tokens."""
    piece = Piece((), (), ())
    piece.en = piece.de = piece.und = ()
    return piece


# A text after phase 1: its language; whether it is addressed to someone (starts with
# @handle); its tokens with their entries; whether it is tagged #sarcasm/#ironie; its
# scare-quoted words; its whitespace-separated pieces and their analyses.
_Tokenised = tuple[str, bool, list[_Token], bool, frozenset[str], list[str], list[Piece]]


@dataclass(frozen=True, slots=True)
class _Phrases:
    """A language's phrases, and the first words of its two- and three-word phrases (to skip
    the tuple lookup for most words)."""

    phrases: dict[tuple[str, ...], Entry]
    first2: frozenset[str]
    first3: frozenset[str]
    german: bool

    @classmethod
    def of(cls, lexicon: Lexicon, *, german: bool) -> _Phrases:
        phrases = lexicon.phrases
        return cls(
            phrases,
            frozenset(p[0] for p in phrases if len(p) == 2),
            frozenset(p[0] for p in phrases if len(p) == 3),
            german,
        )


class _Items:
    """The sentiment items of a text, in order: valence, complaint evidence, kind ("func",
    "thanks", ..., "emoji", "negated", "replaced") and clause number of each."""

    __slots__ = ("clause", "cue", "kind", "valence")

    def __init__(self) -> None:
        self.valence: list[float] = []
        self.cue: list[float] = []
        self.kind: list[str] = []
        self.clause: list[int] = []

    def add(self, valence: float, cue: float, kind: str, clause: int) -> int:
        """Append an item; its index."""
        self.valence.append(valence)
        self.cue.append(cue)
        self.kind.append(kind)
        self.clause.append(clause)
        return len(self.valence) - 1

    def negate(self, j: int) -> None:
        """Apply a negation to item ``j``."""
        if self.kind[j] in ("func", "amen"):
            self.valence[j] = NEGATED_FUNCTION_VALENCE  # "doesn't work", "kein WLAN"
            self.cue[j] = NEGATED_FUNCTION_CUE
        else:
            self.valence[j] *= NEGATION_SCALAR
            # "not delayed" is no complaint; "not impressed", "nicht zufrieden" is one
            cue = self.cue[j]
            self.cue[j] = 0.0 if cue > 0 else -cue
        self.kind[j] = "negated"


class _Scan:
    """Phase 2: one pass over the tokens. Phrases replace their words' entries; negators,
    reversals, intensifiers, "but", modals and sarcasm markers act on the sentiment words near
    them; what is left are the items plus the counts the text-level rules need."""

    __slots__ = (
        "_boost",
        "_clause",
        "_clause_words",
        "_irrealis_cue",
        "_item_at",
        "_last_item_at",
        "_last_item_in_clause",
        "_last_thanks_at",
        "_neg_at",
        "_neg_german_post",
        "_neg_left",
        "_pending_interjection",
        "_phrases",
        "_repeats",
        "_retro_target",
        "_rev_left",
        "_scare",
        "caps_items",
        "caps_words",
        "contrast_at",
        "emoji_valence",
        "exclamations",
        "extra_cue",
        "info_questions",
        "insistent",
        "interjections",
        "items",
        "questions",
        "sarcasm",
        "thanks_for",
        "thanks_items",
        "unattached_negations",
        "words_seen",
    )

    def __init__(self, phrases: _Phrases, scare: frozenset[str], sarcasm: bool) -> None:
        self._phrases = phrases
        self._scare = scare  # scare-quoted words
        # --- results
        self.items = _Items()
        self.sarcasm = sarcasm
        self.extra_cue = 0.0  # complaint evidence not attached to an item
        self.unattached_negations = 0
        self.emoji_valence = 0.0
        self.contrast_at = -1  # index of the first item after "but"
        self.exclamations = 0
        self.questions = 0
        self.insistent = False  # "??", "?!"
        self.info_questions = 0  # clauses asking for information ("can I bring ...?")
        self.words_seen = 0
        self.caps_words = 0
        self.caps_items: list[int] = []
        self.interjections: list[int] = []  # clause-initial positive interjections ("great, ...")
        self.thanks_items: list[int] = []
        self.thanks_for: list[int] = []
        # --- state of the pass
        self._clause = 0
        self._clause_words = 0
        self._item_at: dict[int, int] = {}  # word position -> the item it made
        self._neg_left = 0  # words a pending negator can still reach
        self._neg_at = -10  # word position of the last negator
        self._neg_german_post = False
        self._retro_target = -1  # German: the item before a clause-final "nicht"
        self._last_item_in_clause = -1
        self._last_item_at = -10
        self._repeats: dict[str, int] = {}
        self._rev_left = 0
        self._boost = 0.0
        self._irrealis_cue = -1.0  # >= 0 while an irrealis modal is active in the clause
        self._pending_interjection = -1
        self._last_thanks_at = -10

    def run(self, tokens: list[_Token]) -> None:
        phrases = self._phrases.phrases
        first2 = self._phrases.first2
        first3 = self._phrases.first3
        at = 0  # words so far
        clause_first = clause_second = ""
        prev1 = prev2 = ""  # the previous two words ("" after punctuation or an emoji)
        for cls, key, upper, elongated, entry in tokens:
            if cls != _WORD:
                prev1 = prev2 = ""
                if cls == _PUNCT:
                    if (
                        key == "?"
                        and self._clause_words
                        and _asks_for_information(clause_first, clause_second)
                    ):
                        self._information_question()
                    self._punctuation(key)
                elif entry is not None:
                    self._symbol(entry)
                continue
            # ---- a word: its position, its clause's words, the phrase window
            at += 1
            self.words_seen = at
            clause_words = self._clause_words + 1
            if clause_words > 1:
                self._pending_interjection = -1
                if clause_words == 2:
                    if clause_first in _INTERJECTION_LEADS:
                        clause_words = 1  # "Oh, toll!": the interjection lead does not count
                        clause_first = key
                        clause_second = ""
                    else:
                        clause_second = key
            else:
                clause_first = key
                clause_second = ""
            self._clause_words = clause_words
            if upper:
                self.caps_words += 1
            if self.thanks_items and key in _THANKS_FOR and at - self._last_thanks_at <= 2:
                self.thanks_for.append(self.thanks_items[-1])
            if prev1 in first2 or prev2 in first3:
                # phrases of two or three words replace the entries of their words
                phrase: Entry | None = None
                span = 2
                if prev1 in first2:
                    phrase = phrases.get((prev1, key))
                if phrase is None and prev2 in first3:
                    phrase = phrases.get((prev2, prev1, key))
                    span = 3
                prev2 = prev1
                prev1 = key
                if phrase is not None:
                    self._phrase(phrase, span)
                    continue
            else:
                prev2 = prev1
                prev1 = key
            if self._rev_left:
                self._rev_left -= 1
            if entry is None:
                if self._neg_left > 0:
                    self._neg_left -= 1
                    if self._neg_left == 0:  # the negation reached nothing
                        self._retro_target = -1
                        self._neg_german_post = False
                if clause_words > 1:
                    self._boost = 0.0
                continue
            kind = entry.kind
            if kind and self._operator(kind, key, entry):
                continue
            if clause_words == 1 and key in _SALUTATIONS:
                continue  # "Liebe Bahn, ..." is a salutation, not love
            self._sentiment_word(key, upper, elongated, entry)
        self._close_negation()

    def _phrase(self, phrase: Entry, span: int) -> None:
        kind = phrase.kind
        if self._neg_at > self.words_seen - span:  # the negator is part of the phrase
            self._neg_left = 0
            self._retro_target = -1
            self._neg_german_post = False
        if kind == "sarc":
            self.sarcasm = True
        elif kind == "neg":
            self._close_negation()
            self._neg_left = NEGATION_SCOPE
            self._neg_at = self.words_seen
        elif kind == "irr":
            self._irrealis_cue = max(self._irrealis_cue, phrase.complaint)
        else:
            items = self.items
            at = self.words_seen
            item_at = self._item_at
            for j in (item_at.get(at - 1, -1), item_at.get(at - 2, -1) if span == 3 else -1):
                if j >= 0:  # the items of the phrase's first words
                    items.valence[j] = 0.0
                    items.cue[j] = 0.0
                    items.kind[j] = "replaced"
            valence = phrase.valence
            cue = phrase.complaint
            if valence > 0 and self._irrealis_cue >= 0.0 and self._neg_left == 0:
                valence = 0.0  # "should be on time"
                cue = max(cue, 0.0)
                self.extra_cue += self._irrealis_cue
                self._irrealis_cue = -1.0
            j = self._item_at[at] = items.add(valence, cue, kind, self._clause)
            if kind == "thanks":
                self.thanks_items.append(j)
                self._last_thanks_at = self.words_seen
            if self._neg_left > 0:
                items.negate(j)
                self._neg_left = 0
                self._retro_target = -1
                self._neg_german_post = False
            self._last_item_in_clause = j

    def _operator(self, kind: str, key: str, entry: Entry) -> bool:
        """A word that acts on others (negator, reversal, intensifier, "but", sarcasm marker,
        modal); False for a sentiment word with a kind ("func", "thanks", ...)."""
        if kind == "neg":
            self._close_negation()
            self._neg_left = NEGATION_SCOPE
            self._neg_at = self.words_seen
            if self._phrases.german and _squeeze_all(key) in _GERMAN_POST_NEGATORS:
                self._neg_german_post = True
                self._retro_target = self._last_item_in_clause
        elif kind == "rev":
            j = self._last_item_in_clause
            if j >= 0 and self.items.valence[j] < 0 and self.words_seen - self._last_item_at <= 3:
                self.items.negate(j)  # "Streik beendet", "Störung behoben"
            else:
                self._rev_left = NEGATION_SCOPE  # "Ende des Streiks"
        elif kind == "int" or kind == "dim":
            self._boost += entry.valence
        elif kind == "contrast":
            self._close_negation()
            self._irrealis_cue = -1.0
            self.contrast_at = len(self.items.valence)
            self._new_clause()
        elif kind == "sarc":
            self.sarcasm = True
        elif kind == "irr":
            j = self._last_item_in_clause
            if j >= 0 and self.items.valence[j] > 0 and self.words_seen - self._last_item_at <= 2:
                # verb-second: "Besser wäre ...", "Schön wäre es, wenn ..."
                self.items.valence[j] = 0.0
                self.extra_cue += entry.complaint
            else:
                self._irrealis_cue = max(self._irrealis_cue, entry.complaint)
        else:
            return False
        return True

    def _sentiment_word(self, key: str, upper: bool, elongated: bool, entry: Entry) -> None:
        valence = entry.valence
        blocked = False
        if valence:
            if self._boost:
                valence += _sign(valence) * self._boost
            if upper:
                self.caps_items.append(len(self.items.valence))
            if elongated:
                valence += _sign(valence) * BOOST_ELONGATION
            if valence > 0:
                if key in self._scare:
                    valence *= SARCASM_SCALAR
                    self.extra_cue += SARCASM_CUE
                elif self._irrealis_cue >= 0.0 and self._neg_left == 0:
                    # "should be on time", "wäre schön": the state is not asserted
                    valence = 0.0
                    self.extra_cue += self._irrealis_cue
                    self._irrealis_cue = -1.0
                    blocked = True
        self._boost = 0.0
        # repeats of one word saturate (1, 1/2, 1/3, ...): a news text that says "Streik" five
        # times is not five times as negative
        seen_n = self._repeats.get(key, 0) + 1
        self._repeats[key] = seen_n
        cue = entry.complaint
        if blocked and cue < 0:
            cue = 0.0  # an unasserted "on time" is no evidence against a complaint
        if seen_n > 1:
            valence /= seen_n
            cue /= seen_n
        kind = entry.kind
        j = self._item_at[self.words_seen] = self.items.add(valence, cue, kind, self._clause)
        if kind == "thanks":
            self.thanks_items.append(j)
            self._last_thanks_at = self.words_seen
        if self._neg_left > 0:
            self.items.negate(j)
            self._neg_left = 0
            self._retro_target = -1
            self._neg_german_post = False
        elif self._rev_left > 0 and valence < 0:
            self.items.negate(j)
            self._rev_left = 0
        self._last_item_in_clause = j
        self._last_item_at = self.words_seen
        if valence > 0 and self._clause_words == 1:
            self._pending_interjection = j

    # ---- punctuation, emoji
    def _punctuation(self, key: str) -> None:
        c0 = key[0]
        if c0 == "!" or c0 == "?":
            self.exclamations += key.count("!")
            self.questions += key.count("?")
            if len(key) > 1 and "?" in key:
                self.insistent = True
        if self._pending_interjection >= 0:
            self.interjections.append(self._pending_interjection)
            self._pending_interjection = -1
        if key in CLAUSE_END or c0 in "!?.":
            self._close_negation()
            self._irrealis_cue = -1.0
            self._new_clause()
        elif c0 == ",":
            # a comma ends a negation's reach and starts a German subordinate clause
            # ("traurig, dass die Bahn das nicht merkt")
            self._close_negation()
            self._last_item_in_clause = -1

    def _symbol(self, entry: Entry) -> None:
        if entry.kind == "sarc":
            self.sarcasm = True
        if entry.valence or entry.complaint:
            self.items.add(entry.valence, entry.complaint, "emoji", self._clause)
            self.emoji_valence += entry.valence

    def _information_question(self) -> None:
        """The clause ending in "?" asks for information unless it holds negative words."""
        items = self.items
        clause = self._clause
        for j in range(len(items.clause) - 1, -1, -1):
            if items.clause[j] != clause:
                break
            if items.valence[j] < 0 or items.cue[j] > 0:
                return
        self.info_questions += 1

    # ---- clauses and negation scope
    def _new_clause(self) -> None:
        self._clause += 1
        self._clause_words = 0
        self._last_item_in_clause = -1

    def _close_negation(self) -> None:
        """A pending negator's scope ends: a German clause-final "nicht" flips the item before
        it; any other negation that reached no sentiment word is weak complaint evidence."""
        if self._neg_left > 0:
            if self._neg_german_post and self._retro_target >= 0:
                self.items.negate(self._retro_target)
            else:
                self.unattached_negations += 1
            self._neg_left = 0
        self._retro_target = -1
        self._neg_german_post = False


def _text_level(scan: _Scan) -> tuple[float, float]:
    """Phase 3: rules over the whole text (caps, sarcasm, politeness, "but", punctuation,
    length); the text's valence and complaint evidence."""
    items = scan.items
    ival, icue, ikind, iclause = items.valence, items.cue, items.kind, items.clause
    words_valence = 0.0
    for j, v in enumerate(ival):
        if ikind[j] != "emoji":
            words_valence += v
    words_seen = scan.words_seen
    shouting = words_seen > 0 and scan.caps_words * 2 > words_seen
    if scan.caps_items and not shouting:
        for j in scan.caps_items:  # ALL-CAPS emphasis of single words in a mixed-case text
            ival[j] += _sign(ival[j]) * BOOST_CAPS
    cue_total = sum(icue) + scan.extra_cue
    cue_total += UNATTACHED_NEGATION_CUE * min(scan.unattached_negations, UNATTACHED_NEGATION_MAX)
    if scan.insistent:
        cue_total += INSISTENT_QUESTION_CUE
    if scan.info_questions and not scan.insistent and cue_total < INFO_QUESTION_MAX_CUE:
        # a question for information, and little else: not a complaint ("??" is insistence;
        # a report of a problem with a question after it stays a complaint)
        cue_total += INFO_QUESTION_CUE
    sarcasm = scan.sarcasm
    if not sarcasm and scan.emoji_valence < 0 and words_valence > 0:
        # positive words, negative emoji: "thanks for the quick help :(" is not praise
        sarcasm = True
    if sarcasm:
        for j, v in enumerate(ival):
            if v > 0 and ikind[j] != "negated" and ikind[j] != "emoji":
                ival[j] = v * SARCASM_SCALAR
                if icue[j] < 0:
                    cue_total -= 2 * icue[j]  # sarcastic thanks/praise: evidence *for*
        cue_total += SARCASM_CUE
    else:
        flipped = False
        if cue_total >= IMPLICIT_SARCASM_MIN_CUE:
            for j in scan.interjections:
                if ival[j] > 0:
                    ival[j] *= SARCASM_SCALAR
                    flipped = True
        for j in scan.thanks_for:
            # "thanks for <complaint>" within one clause is sarcastic
            if ival[j] > 0 and sum(
                icue[k] for k in range(j + 1, len(icue)) if iclause[k] == iclause[j]
            ) >= 1.0:
                ival[j] *= SARCASM_SCALAR
                flipped = True
        if flipped:
            cue_total += SARCASM_CUE
        for j in scan.thanks_items:
            # a sign-off "thanks" after a complaint is politeness
            if ival[j] > 0 and sum(icue[k] for k in range(j) if iclause[k] < iclause[j]) >= 1.0:
                ival[j] *= POLITE_THANKS_SCALAR

    if scan.contrast_at >= 0:
        for j in range(len(ival)):
            ival[j] *= CONTRAST_BEFORE if j < scan.contrast_at else CONTRAST_AFTER
    valence = sum(ival)
    if valence:
        sign = _sign(valence)
        if scan.exclamations:
            valence += sign * min(scan.exclamations, 4) * EXCLAMATION_BOOST
        if scan.questions > 1:
            valence += sign * min(scan.questions - 1, 3) * QUESTION_BOOST
        if shouting:
            valence += sign * BOOST_CAPS
    if words_seen > LENGTH_REF_WORDS:
        damp = math.sqrt(LENGTH_REF_WORDS / words_seen)
        valence *= damp
        cue_total *= damp
    return valence, cue_total


def _scored(
    language: str,
    addressed: bool,
    words: int,
    valence: float,
    cue: float,
    sentiment_threshold: float,
    complaint_threshold: float,
) -> Classification:
    """Phase 4: the complaint and sentiment scores from the text's valence and evidence."""
    z = COMPLAINT_BIAS + COMPLAINT_W_CUE * cue - COMPLAINT_W_VALENCE * valence
    if addressed:
        z += ADDRESSED_PRIOR
    if words > LONG_TEXT_WORDS:
        z += LONG_TEXT_PRIOR
    complaint_score = round(_sigmoid(z), 4)
    s = valence - CUE_AS_VALENCE * max(cue, 0.0)
    sentiment_score = round(max(-1.0, min(1.0, s / math.sqrt(s * s + SENTIMENT_NORM_ALPHA))), 4)
    if complaint_score >= sentiment_threshold or sentiment_score <= -SENTIMENT_BAND:
        sentiment = "negative"
    elif sentiment_score >= SENTIMENT_BAND:
        sentiment = "positive"
    else:
        sentiment = "neutral"
    return Classification(
        language=language,
        sentiment=sentiment,
        sentiment_score=sentiment_score,
        complaint=complaint_score >= complaint_threshold,
        complaint_score=complaint_score,
    )


def _index(parts: dict[str, Entry], *, last: bool) -> dict[str, list[tuple[str, Entry]]]:
    index: dict[str, list[tuple[str, Entry]]] = {}
    for part, entry in parts.items():
        if len(part) >= _MIN_STEM:
            key = part[-_MIN_STEM:] if last else part[:_MIN_STEM]
            index.setdefault(key, []).append((part, entry))
    for candidates in index.values():
        candidates.sort(key=lambda item: -len(item[0]))
    return index


def _combine(head: Entry | None, modifier: Entry | None) -> Entry | None:
    """A compound with both parts known: the stronger valence, the larger complaint evidence."""
    if head is None:
        return modifier
    if modifier is None:
        return head
    valence = head.valence if abs(head.valence) >= abs(modifier.valence) else modifier.valence
    return Entry(valence, max(head.complaint, modifier.complaint), "")


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@lru_cache(maxsize=1)
def default_classifier() -> LexiconClassifier:
    """The process-wide lexicon backend, built on first use."""
    return LexiconClassifier()
