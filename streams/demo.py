"""A deterministic generator of realistic demo mentions (German and English, fictional brands).

Pure: the seed and the clock are passed in. Used by `mentionwatch demo` and by the benchmarks.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.models import SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class DemoBrand:
    key: str
    lang: str
    account: str
    subjects: tuple[str, ...]


DEMO_BRANDS = (
    DemoBrand("fernbahn", "de", "Fernbahn_Hilfe", ("ICE 578", "RE 4", "der Zug nach Köln",
                                                   "die S-Bahn", "mein Anschlusszug")),
    DemoBrand("telefonika", "de", "Telefonika_hilft", ("mein DSL", "das Netz", "die Hotline",
                                                       "der Router", "meine Rechnung")),
    DemoBrand("skyways", "en", "SkywaysHelp", ("flight SK 212", "my bag", "the app",
                                              "my connection", "the lounge")),
    DemoBrand("northbank", "en", "NorthbankCares", ("my card", "the app", "my transfer",
                                                    "online banking", "my account")),
)

_COMPLAINTS = {
    "de": [
        "{s} ist schon wieder {n} Minuten verspätet, echt unfassbar 😡",
        "Seit drei Tagen funktioniert {s} nicht. Niemand meldet sich. Sehr enttäuschend!",
        "Warum fällt {s} ständig aus? Ich warte immer noch auf eine Antwort.",
        "Danke für nichts. {s} ist kaputt und der Kundenservice ignoriert mich.",
        "Schon wieder Probleme mit {s}. Ich will mein Geld zurück!",
        "Katastrophe: {s} ausgefallen, keine Information, kein Ersatz. #fail",
    ],
    "en": [
        "{s} is delayed again, {n} minutes and counting. Worst service ever 😡",
        "Still waiting for a refund for {s}. No response for days. Unacceptable!",
        "Why does {s} keep failing? Been on hold for an hour.",
        "Thanks for nothing. {s} is broken and nobody answers. #fail",
        "Cancelled again?! {s} ruined my whole day. Terrible customer service.",
        "Lost {s} and your agents keep hanging up on me. So frustrated.",
    ],
}
_PRAISE = {
    "de": [
        "Danke an das Team, {s} war heute super pünktlich! 👍",
        "Sehr freundlicher Service, {s} hat endlich wieder funktioniert. Top!",
        "Großes Lob: {s} lief heute problemlos.",
    ],
    "en": [
        "Shoutout to the team, {s} was great today! 👍",
        "Thanks for the quick help with {s}, much appreciated :)",
        "Love the new {s}, works perfectly.",
    ],
}
_NEUTRAL = {
    "de": [
        "Weiß jemand, ob {s} heute nach Plan fährt?",
        "Gibt es eine neue Version für {s}?",
        "Wie lange gilt das Angebot für {s} noch?",
    ],
    "en": [
        "Does anyone know if {s} runs on schedule today?",
        "Is there an update planned for {s}?",
        "What time does {s} open on Sundays?",
    ],
}
_REPLIES = {
    "de": [
        "Hallo, das tut uns leid! Bitte schreib uns eine DM mit deiner Kundennummer. ^mk",
        "Danke für dein Feedback, wir kümmern uns sofort darum. ^ab",
    ],
    "en": [
        "Sorry to hear that! Please DM us your booking reference and we'll help. ^JS",
        "Thanks for reaching out, we're looking into it right now. ^AL",
    ],
}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def generate(seed: int, start_ms: int, *, count: int | None = None, rate_per_s: float = 5.0,
             reply_share: float = 0.5, customers: int = 5000, id_prefix: str = "demo"
             ) -> Iterator[dict[str, Any]]:
    """Yield mention.v1 dicts with event times from start_ms on, about rate_per_s a second.
    A share of complaints gets a brand reply (same author key, a few seconds to minutes later in
    event time, emitted in event-time order)."""
    rng = random.Random(seed)
    step_ms = max(1, int(1000 / rate_per_s))
    # A heap of (event time, order, reply): the earliest reply must be the one checked, or a
    # reply with a long delay holds back every later one.
    pending: list[tuple[int, int, dict[str, Any]]] = []
    now = start_ms
    n = 0
    while count is None or n < count:
        if pending and pending[0][0] <= now:
            yield heapq.heappop(pending)[2]
            n += 1
            continue
        brand = rng.choice(DEMO_BRANDS)
        lang = brand.lang
        roll = rng.random()
        templates = _COMPLAINTS if roll < 0.55 else _PRAISE if roll < 0.75 else _NEUTRAL
        text = rng.choice(templates[lang]).format(s=rng.choice(brand.subjects),
                                                  n=rng.choice((12, 25, 40, 90)))
        customer = rng.randrange(customers)
        handle = f"{'kunde' if lang == 'de' else 'user'}{customer}"
        mention_id = f"{id_prefix}-{n}"
        yield {
            "schema_version": SCHEMA_VERSION, "id": mention_id, "platform": "twitter",
            "brand": brand.key,
            "author": {"id": f"u{customer}", "handle": handle, "is_brand": False},
            "text": f"@{brand.account} {text}", "created_at": _iso(now), "lang": lang,
        }
        n += 1
        if templates is _COMPLAINTS and rng.random() < reply_share:
            delay_ms = int(rng.expovariate(1 / 45_000)) + 2_000
            heapq.heappush(pending, (now + delay_ms, n, {
                "schema_version": SCHEMA_VERSION, "id": f"{mention_id}-r", "platform": "twitter",
                "brand": brand.key,
                "author": {"id": brand.account, "handle": brand.account, "is_brand": True},
                "text": f"@{handle} {rng.choice(_REPLIES[lang])}",
                "created_at": _iso(now + delay_ms), "lang": lang,
                "in_reply_to": mention_id, "in_reply_to_author_id": f"u{customer}",
                "conversation_id": mention_id,
            }))
        now += int(rng.expovariate(1 / step_ms)) + 1
