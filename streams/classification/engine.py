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
* evidence beyond a tweet's length (20 words) is damped by sqrt(20 / words).

``complaint_score = sigmoid(bias + cue - 0.8 * valence)`` and ``sentiment_score =
s / sqrt(s^2 + 15)`` with ``s = valence - 0.6 * cue``. All constants are set by hand; see
docs/classification.md for which were checked against the dev sets.
"""

from __future__ import annotations

import math
from functools import lru_cache

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

#: complaint_score >= this  ->  complaint (see docs/classification.md for the reasoning).
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

SARCASM_HASHTAGS = frozenset(
    {"sarcasm", "sarkasmus", "ironie", "irony", "not", "ironieaus", "sarcasmalert", "eyeroll"}
)
_INTERJECTION_LEADS = frozenset(
    {"oh", "ohh", "na", "just", "so", "well", "wow", "ach", "ja", "yeah"}
)
_SALUTATIONS = frozenset({"liebe", "lieber", "liebes", "hallo", "hi", "hey", "dear"})
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
_CACHE_LIMIT = 100_000  # words and lexicon entries per cache
_CHUNK_CACHE_LIMIT = 50_000  # whitespace-separated pieces (bounded memory: tens of MB)
_GERMAN_LETTERS = frozenset("äöüßÄÖÜ")

# token classes in the token-info cache
_WORD = 0
_PUNCT = 1
_SYMBOL = 2
_PUNCT_START = frozenset("!?.,;:…")
_PUNCT_CHARS = _PUNCT_START

TokenInfo = tuple[int, str, bool, bool, float]  # class, key, ALL CAPS, elongated, language vote
_Token = tuple[int, str, bool, bool, "Entry | None"]  # class, key, ALL CAPS, elongated, entry
_Chunk = tuple[tuple[TokenInfo, ...], tuple[str, ...], tuple[str, ...], float]


def _squeeze_all(word: str) -> str:
    """Every run of a repeated letter cut to one ("niiicht" -> "nicht")."""
    return "".join(c for i, c in enumerate(word) if i == 0 or word[i - 1] != c)


def _sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


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
        self._entries: dict[str, dict[str, Entry | None]] = {k: {} for k in lexicons}
        self._tokens: dict[str, TokenInfo] = {}
        self._chunks: dict[str, _Chunk] = {}
        self._lchunks: dict[str, dict[str, tuple[_Token, ...]]] = {k: {} for k in lexicons}
        # compound heads by their last four letters, first parts by their first four, longest
        # first (so an unknown word is checked against a handful of candidates, not all cuts)
        self._suffix_index = {k: _index(lx.suffixes, last=True) for k, lx in lexicons.items()}
        self._prefix_index = {k: _index(lx.prefixes, last=False) for k, lx in lexicons.items()}
        # first words of two- and three-word phrases, to skip the tuple lookup for most words
        self._first2 = {
            k: frozenset(p[0] for p in lx.phrases if len(p) == 2) for k, lx in lexicons.items()
        }
        self._first3 = {
            k: frozenset(p[0] for p in lx.phrases if len(p) == 3) for k, lx in lexicons.items()
        }

    # ------------------------------------------------------------------ token lookup
    def lookup(self, token: str, lang: str) -> Entry | None:
        """The lexicon entry of one word, emoji or emoticon in ``lang`` (cached)."""
        return self._entry(self._info(token)[1], lang)

    def _info(self, tok: str) -> TokenInfo:
        info = self._tokens.get(tok)
        if info is None:
            if len(self._tokens) > _CACHE_LIMIT:
                self._tokens.clear()
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
            self._tokens[tok] = info
        return info

    def _chunk(self, piece: str) -> _Chunk:
        """Token infos, hashtags, scare-quoted words and language vote of a whitespace-free
        piece of text (cached: pieces repeat a lot)."""
        if len(self._chunks) > _CHUNK_CACHE_LIMIT:
            self._chunks.clear()
        tokens, hashtags, scare = analyse_chunk(piece)
        infos = tuple(self._info(t) for t in tokens)
        hit = self._chunks[piece] = (infos, hashtags, scare, sum(i[4] for i in infos))
        return hit

    def _lchunk(self, piece: str, lang: str) -> tuple[_Token, ...]:
        """The piece's tokens with their lexicon entries in ``lang`` (cached)."""
        cache = self._lchunks[lang]
        if len(cache) > _CHUNK_CACHE_LIMIT:
            cache.clear()
        infos, hashtags, _, _ = self._chunks.get(piece) or self._chunk(piece)
        out: list[_Token] = []
        for cls, key, upper, elongated, _vote in infos:
            entry = self._entry(key, lang) if cls != _PUNCT else None
            if entry is None and cls == _WORD and key in hashtags:
                entry = self.lookup_hashtag(key, lang)
            out.append((cls, key, upper, elongated, entry))
        hit = cache[piece] = tuple(out)
        return hit

    def _entry(self, key: str, lang: str) -> Entry | None:
        cache = self._entries[lang]
        try:
            return cache[key]
        except KeyError:
            pass
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        entry = cache[key] = self._lookup_uncached(key, lang)
        return entry

    def _lookup_uncached(self, key: str, lang: str) -> Entry | None:
        lex = self._lex[lang]
        words = lex.words
        hit = words.get(key)
        if hit is not None:
            return hit
        if is_elongated(key):
            key = squeeze_elongation(key)
            hit = words.get(key) or words.get(_squeeze_all(key))
            if hit is not None:
                return hit
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
        if ckey in cache:
            return cache[ckey]
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
        entry = cache[ckey] = _combine(head, modifier)
        return entry

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

    # ------------------------------------------------------------------ scoring
    def classify(
        self, text: str, lang: str | None = None, *, threshold: float | None = None
    ) -> Classification:
        """Classify one text; ``lang`` ("de"/"en") is trusted when given."""
        text, addressed = normalise_text(text)
        pieces = text.split()
        tag_list: list[str] = []
        scare_list: list[str] = []
        cget = self._chunks.get
        vote = 0.0
        for piece in pieces:
            hit = cget(piece) or self._chunk(piece)
            vote += hit[3]
            if hit[1]:
                tag_list += hit[1]
            if hit[2]:
                scare_list += hit[2]
        if lang == "de" or lang == "en":
            language: str = lang
        elif vote > 0:
            language = "de"
        elif vote < 0:
            language = "en"
        else:
            infos: list[TokenInfo] = []
            for piece in pieces:
                infos += self._chunks[piece][0] if piece in self._chunks else self._chunk(piece)[0]
            language = self._detect(infos)
        lget = self._lchunks[language].get
        tokens: list[_Token] = []
        for piece in pieces:
            tokens += lget(piece) or self._lchunk(piece, language)
        phrases = self._lex[language].phrases
        first2 = self._first2[language]
        first3 = self._first3[language]
        german = language == "de"
        caps_words = 0
        caps_items: list[int] = []

        ival: list[float] = []  # valence of each sentiment item
        icue: list[float] = []  # complaint evidence of each item
        ikind: list[str] = []
        iclause: list[int] = []
        interjections: list[int] = []  # clause-initial positive interjections ("great, ...")
        thanks_items: list[int] = []
        thanks_for: list[int] = []
        clause = 0
        clause_words = 0
        words_seen = 0
        neg_left = 0  # words a pending negator can still reach
        neg_at = -10  # word position of the last negator
        neg_german_post = False
        retro_target = -1  # German: the item before a clause-final "nicht"
        last_item_in_clause = -1
        last_item_at = -10
        repeats: dict[str, int] = {}
        blocked = False
        clause_first = ""
        emoji_valence = 0.0
        rev_left = 0
        unattached_negations = 0
        boost = 0.0
        irrealis_cue = -1.0  # >= 0 while an irrealis modal is active in the clause
        contrast_at = -1
        exclamations = 0
        questions = 0
        insistent = False
        sarcasm = bool(tag_list) and not SARCASM_HASHTAGS.isdisjoint(tag_list)
        scare = frozenset(scare_list)
        extra_cue = 0.0
        prev1 = ""  # the previous two words of the clause ("" at its start)
        prev2 = ""
        item_prev1 = -1
        item_prev2 = -1
        pending_interjection = -1
        last_thanks_at = -10

        for cls, key, upper, elongated, entry in tokens:
            if cls == _WORD:
                words_seen += 1
                clause_words += 1
                if clause_words > 1:
                    pending_interjection = -1
                    if clause_words == 2 and clause_first in _INTERJECTION_LEADS:
                        clause_words = 1  # "Oh, toll!": the interjection lead does not count
                        clause_first = key
                else:
                    clause_first = key
                if upper:
                    caps_words += 1
                if thanks_items and key in _THANKS_FOR and words_seen - last_thanks_at <= 2:
                    thanks_for.append(thanks_items[-1])
                # phrases of two or three words replace the entries of their words
                pentry: Entry | None = None
                span = 2
                if prev1 in first2:
                    pentry = phrases.get((prev1, key))
                if pentry is None and prev2 in first3:
                    pentry = phrases.get((prev2, prev1, key))
                    span = 3
                old1, old2 = item_prev1, item_prev2
                prev2, prev1 = prev1, key
                item_prev2, item_prev1 = item_prev1, -1
                if pentry is not None:
                    pkind = pentry.kind
                    if neg_at > words_seen - span:  # the negator is part of the phrase
                        neg_left = 0
                        retro_target = -1
                        neg_german_post = False
                    if pkind == "sarc":
                        sarcasm = True
                    elif pkind == "neg":
                        if neg_left > 0:
                            if neg_german_post and retro_target >= 0:
                                _negate(ival, icue, ikind, retro_target)
                            else:
                                unattached_negations += 1
                            neg_left = 0
                        retro_target = -1
                        neg_german_post = False
                        neg_left = NEGATION_SCOPE
                        neg_at = words_seen
                    elif pkind == "irr":
                        irrealis_cue = max(irrealis_cue, pentry.complaint)
                    else:
                        for j in (old1, old2 if span == 3 else -1):
                            if j >= 0:
                                ival[j] = 0.0
                                icue[j] = 0.0
                                ikind[j] = "replaced"
                        pval = pentry.valence
                        pcue = pentry.complaint
                        if pval > 0 and irrealis_cue >= 0.0 and neg_left == 0:
                            pval = 0.0  # "should be on time"
                            pcue = max(pcue, 0.0)
                            extra_cue += irrealis_cue
                            irrealis_cue = -1.0
                        ival.append(pval)
                        icue.append(pcue)
                        ikind.append(pkind)
                        iclause.append(clause)
                        j = len(ival) - 1
                        item_prev1 = j
                        if pkind == "thanks":
                            thanks_items.append(j)
                            last_thanks_at = words_seen
                        if neg_left > 0:
                            _negate(ival, icue, ikind, j)
                            neg_left = 0
                            retro_target = -1
                            neg_german_post = False
                        last_item_in_clause = j
                    continue
                if rev_left:
                    rev_left -= 1
                if entry is None:
                    if neg_left > 0:
                        neg_left -= 1
                        if neg_left == 0:
                            if neg_left > 0:
                                if neg_german_post and retro_target >= 0:
                                    _negate(ival, icue, ikind, retro_target)
                                else:
                                    unattached_negations += 1
                                neg_left = 0
                            retro_target = -1
                            neg_german_post = False
                    if clause_words > 1:
                        boost = 0.0
                    continue
                kind = entry.kind
                if kind:
                    if kind == "neg":
                        if neg_left > 0:
                            if neg_german_post and retro_target >= 0:
                                _negate(ival, icue, ikind, retro_target)
                            else:
                                unattached_negations += 1
                            neg_left = 0
                        retro_target = -1
                        neg_german_post = False
                        neg_left = NEGATION_SCOPE
                        neg_at = words_seen
                        if german and _squeeze_all(key) in _GERMAN_POST_NEGATORS:
                            neg_german_post = True
                            retro_target = last_item_in_clause
                        continue
                    if kind == "rev":
                        j = last_item_in_clause
                        if j >= 0 and ival[j] < 0 and words_seen - last_item_at <= 3:
                            _negate(ival, icue, ikind, j)  # "Streik beendet", "Störung behoben"
                        else:
                            rev_left = NEGATION_SCOPE  # "Ende des Streiks"
                        continue
                    if kind == "int" or kind == "dim":
                        boost += entry.valence
                        continue
                    if kind == "contrast":
                        if neg_left > 0:
                            if neg_german_post and retro_target >= 0:
                                _negate(ival, icue, ikind, retro_target)
                            else:
                                unattached_negations += 1
                            neg_left = 0
                        retro_target = -1
                        neg_german_post = False
                        irrealis_cue = -1.0
                        contrast_at = len(ival)
                        clause += 1
                        clause_words = 0
                        last_item_in_clause = -1
                        continue
                    if kind == "sarc":
                        sarcasm = True
                        continue
                    if kind == "irr":
                        j = last_item_in_clause
                        if j >= 0 and ival[j] > 0 and words_seen - last_item_at <= 2:
                            # verb-second: "Besser wäre ...", "Schön wäre es, wenn ..."
                            ival[j] = 0.0
                            extra_cue += entry.complaint
                        else:
                            irrealis_cue = max(irrealis_cue, entry.complaint)
                        continue
                if clause_words == 1 and key in _SALUTATIONS:
                    continue  # "Liebe Bahn, ..." is a salutation, not love
                valence = entry.valence
                if valence:
                    if boost:
                        valence += _sign(valence) * boost
                    if upper:
                        caps_items.append(len(ival))
                    if elongated:
                        valence += _sign(valence) * BOOST_ELONGATION
                    if valence > 0:
                        if key in scare:
                            valence *= SARCASM_SCALAR
                            extra_cue += SARCASM_CUE
                        elif irrealis_cue >= 0.0 and neg_left == 0:
                            # "should be on time", "wäre schön": the state is not asserted
                            valence = 0.0
                            extra_cue += irrealis_cue
                            irrealis_cue = -1.0
                            blocked = True
                boost = 0.0
                # repeats of one word saturate (1, 1/2, 1/3, ...): a news text that says
                # "Streik" five times is not five times as negative
                seen_n = repeats.get(key, 0) + 1
                repeats[key] = seen_n
                cue = entry.complaint
                if blocked:
                    blocked = False
                    if cue < 0:
                        cue = 0.0  # an unasserted "on time" is no evidence against a complaint
                if seen_n > 1:
                    valence /= seen_n
                    cue /= seen_n
                ival.append(valence)
                icue.append(cue)
                ikind.append(kind)
                iclause.append(clause)
                j = len(ival) - 1
                item_prev1 = j
                if kind == "thanks":
                    thanks_items.append(j)
                    last_thanks_at = words_seen
                if neg_left > 0:
                    _negate(ival, icue, ikind, j)
                    neg_left = 0
                    retro_target = -1
                    neg_german_post = False
                elif rev_left > 0 and valence < 0:
                    _negate(ival, icue, ikind, j)
                    rev_left = 0
                last_item_in_clause = j
                last_item_at = words_seen
                if valence > 0 and (
                    clause_words == 1
                ):
                    pending_interjection = j
                continue
            prev1 = prev2 = ""
            item_prev1 = item_prev2 = -1
            if cls == _PUNCT:
                c0 = key[0]
                if c0 == "!" or c0 == "?":
                    exclamations += key.count("!")
                    questions += key.count("?")
                    if len(key) > 1 and "?" in key:
                        insistent = True
                if pending_interjection >= 0:
                    interjections.append(pending_interjection)
                    pending_interjection = -1
                if key in CLAUSE_END or c0 in "!?.":
                    if neg_left > 0:
                        if neg_german_post and retro_target >= 0:
                            _negate(ival, icue, ikind, retro_target)
                        else:
                            unattached_negations += 1
                        neg_left = 0
                    retro_target = -1
                    neg_german_post = False
                    irrealis_cue = -1.0
                    clause += 1
                    clause_words = 0
                    last_item_in_clause = -1
                elif c0 == ",":
                    # a comma ends a negation's reach and starts a German subordinate clause
                    # ("traurig, dass die Bahn das nicht merkt")
                    if neg_left > 0:
                        if neg_german_post and retro_target >= 0:
                            _negate(ival, icue, ikind, retro_target)
                        else:
                            unattached_negations += 1
                        neg_left = 0
                    retro_target = -1
                    neg_german_post = False
                    last_item_in_clause = -1
                continue
            if entry is None:
                continue
            if entry.kind == "sarc":
                sarcasm = True
            if entry.valence or entry.complaint:
                ival.append(entry.valence)
                icue.append(entry.complaint)
                ikind.append("emoji")
                emoji_valence += entry.valence
                iclause.append(clause)
        if neg_left > 0:
            if neg_german_post and retro_target >= 0:
                _negate(ival, icue, ikind, retro_target)
            else:
                unattached_negations += 1
            neg_left = 0
        retro_target = -1
        neg_german_post = False

        # ---- text-level rules
        words_valence = 0.0
        for j, v in enumerate(ival):
            if ikind[j] != "emoji":
                words_valence += v
        words_total = words_seen
        shouting = words_total > 0 and caps_words * 2 > words_total
        if caps_items and not shouting:
            for j in caps_items:  # ALL-CAPS emphasis of single words in a mixed-case text
                ival[j] += _sign(ival[j]) * BOOST_CAPS
        cue_total = sum(icue) + extra_cue
        cue_total += UNATTACHED_NEGATION_CUE * min(unattached_negations, UNATTACHED_NEGATION_MAX)
        if insistent:
            cue_total += INSISTENT_QUESTION_CUE
        if not sarcasm and emoji_valence < 0 and words_valence > 0:
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
                for j in interjections:
                    if ival[j] > 0:
                        ival[j] *= SARCASM_SCALAR
                        flipped = True
            for j in thanks_for:
                # "thanks for <complaint>" within one clause is sarcastic
                if ival[j] > 0 and sum(
                    icue[k] for k in range(j + 1, len(icue)) if iclause[k] == iclause[j]
                ) >= 1.0:
                    ival[j] *= SARCASM_SCALAR
                    flipped = True
            if flipped:
                cue_total += SARCASM_CUE
            for j in thanks_items:
                # a sign-off "thanks" after a complaint is politeness
                if ival[j] > 0 and sum(
                    icue[k] for k in range(j) if iclause[k] < iclause[j]
                ) >= 1.0:
                    ival[j] *= POLITE_THANKS_SCALAR

        if contrast_at >= 0:
            for j in range(len(ival)):
                ival[j] *= CONTRAST_BEFORE if j < contrast_at else CONTRAST_AFTER
        valence = sum(ival)
        if valence:
            sign = _sign(valence)
            if exclamations:
                valence += sign * min(exclamations, 4) * EXCLAMATION_BOOST
            if questions > 1:
                valence += sign * min(questions - 1, 3) * QUESTION_BOOST
            if shouting:
                valence += sign * BOOST_CAPS
        if words_seen > LENGTH_REF_WORDS:
            damp = math.sqrt(LENGTH_REF_WORDS / words_seen)
            valence *= damp
            cue_total *= damp

        z = COMPLAINT_BIAS + COMPLAINT_W_CUE * cue_total - COMPLAINT_W_VALENCE * valence
        if addressed:
            z += ADDRESSED_PRIOR
        complaint_score = round(_sigmoid(z), 4)
        s = valence - CUE_AS_VALENCE * max(cue_total, 0.0)
        sentiment_score = round(max(-1.0, min(1.0, s / math.sqrt(s * s + SENTIMENT_NORM_ALPHA))), 4)
        thr = self.threshold if threshold is None else threshold
        if complaint_score >= self.threshold or sentiment_score <= -SENTIMENT_BAND:
            sentiment = "negative"
        elif sentiment_score >= SENTIMENT_BAND:
            sentiment = "positive"
        else:
            sentiment = "neutral"
        return Classification(
            language=language,
            sentiment=sentiment,
            sentiment_score=sentiment_score,
            complaint=complaint_score >= thr,
            complaint_score=complaint_score,
        )


_MISSING = Entry(0.0, 0.0, "missing")


def _negate(ival: list[float], icue: list[float], ikind: list[str], j: int) -> None:
    """Apply a negation to item ``j``."""
    if ikind[j] in ("func", "amen"):
        ival[j] = NEGATED_FUNCTION_VALENCE  # "doesn't work", "kein WLAN"
        icue[j] = NEGATED_FUNCTION_CUE
    else:
        ival[j] *= NEGATION_SCALAR
        # "not delayed" is no complaint; "not impressed", "nicht zufrieden" is one
        icue[j] = 0.0 if icue[j] > 0 else -icue[j]
    ikind[j] = "negated"


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
