"""German/English language identification from function words and spelling (pure, no I/O).

Closed-class words (articles, pronouns, auxiliaries, prepositions, conjunctions) are the most
reliable short-text signal: each language's hits are counted over the folded tokens, umlauts and
ß add German evidence, and the text is ``und`` when neither language has evidence or they tie.
"""

from __future__ import annotations

from collections.abc import Iterable

from .text import fold

_DE = """
der die das den dem des ein eine einen einem einer eines und oder aber doch sondern denn weil
dass daß wenn als ob wie wo wer wen wem was warum wieso weshalb wann ist sind bin bist war waren
wird werden wurde wurden hat habe hab haben hatte hatten kann können konnte muss müssen musste
soll sollte will wollen darf dürfen mag möchte ich du er sie es wir ihr mich mir dich dir ihn ihm
uns euch ihnen sich mein meine meinen meinem meiner dein deine sein seine ihre unser unsere euer
eure nicht kein keine keinen keinem keiner nichts nie noch schon auch nur sehr mal jetzt heute
gestern morgen hier dort da dann immer wieder mit ohne für von vom zu zum zur bei beim auf aus
im in am an um über unter nach vor seit bis durch gegen zwischen ja nein danke bitte gibt gab
man jemand alle alles viel viele mehr weniger gut heute endlich leider bzw usw ne nen nem gerade
eigentlich wirklich echt halt eben etwas dieser diese dieses diesen
"""
_EN = """
the a an and or but because if when where who whom what why how which that this these those is
are am was were be been being has have had having do does did done will would shall should can
could may might must i you he she it we they me him her us them my your his its our their mine
yours not no never nothing don't didn't doesn't can't won't isn't wasn't aren't weren't haven't
hasn't couldn't wouldn't shouldn't i'm i've i'll i'd you're you've we're we've it's that's
there's dont didnt doesnt cant wont isnt im ive with without for from of to in on at by about
into over after before since until just still already again very really so too also only even
yet here there now today tonight tomorrow yesterday please thanks thank any some all more much
many get got getting back out up off than then
"""

DE_WORDS: frozenset[str] = frozenset(fold(w) for w in _DE.split())
EN_WORDS: frozenset[str] = frozenset(fold(w) for w in _EN.split())
# Words that are function words in both languages carry no evidence.
_BOTH = DE_WORDS & EN_WORDS
DE_ONLY: frozenset[str] = DE_WORDS - _BOTH
EN_ONLY: frozenset[str] = EN_WORDS - _BOTH

_GERMAN_LETTERS = frozenset("äöüßÄÖÜ")


def detect_language(text: str) -> str:
    """``"de"``, ``"en"`` or ``"und"`` for a raw text (convenience wrapper)."""
    from .text import prepare

    return detect_from_tokens(prepare(text).tokens)


def detect_from_tokens(tokens: Iterable[str]) -> str:
    de = 0.0
    en = 0.0
    for tok in tokens:
        if not tok[0].isalpha():
            continue
        low = tok.lower()
        key = fold(low) if not low.isascii() else low
        if key in DE_ONLY:
            de += 1.0
        elif key in EN_ONLY:
            en += 1.0
        if not low.isascii() and not _GERMAN_LETTERS.isdisjoint(tok):
            de += 0.5
    if de > en:
        return "de"
    if en > de:
        return "en"
    return "und"
