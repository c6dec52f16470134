"""Brand configuration: who a brand is (its accounts), its SLA and ignore deadline, and optionally
its business hours. Parsed from TOML (see deploy/brands.example.toml); pure, no I/O.

Every mistake in the file is an error that names the file, the brand and the field: a typo must
never pass silently and leave a brand judged by the defaults.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.models import BRAND_KEY_PATTERN

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

DEFAULT_SLA_MS = HOUR_MS
DEFAULT_IGNORE_AFTER_MS = 24 * HOUR_MS
DEFAULT_SHARE_WINDOW_MS = 7 * DAY_MS
# Warnings before the breach: a complaint is "due soon" once its unanswered business age passes
# the SLA less this, and "ignore soon" once it passes the ignore deadline less the other.
DEFAULT_DUE_SOON_MS = 15 * MINUTE_MS
DEFAULT_IGNORE_SOON_MS = HOUR_MS

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

BRAND_KEY_RE = re.compile(BRAND_KEY_PATTERN)
_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_HHMM_RE = re.compile(r"(\d{2}):(\d{2})")
_HANDLE_MAX = 256

Hours = tuple[tuple[tuple[str, str], ...], ...]


class BrandConfigError(ValueError):
    """The brand configuration is invalid; the message names the file, the brand and the field."""


def hhmm_to_minutes(value: str) -> int:
    """'HH:MM' → minutes since midnight; '24:00' is allowed (end of day). Raises ValueError."""
    m = _HHMM_RE.fullmatch(value)
    if not m:
        raise ValueError(f"{value!r} is not HH:MM")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise ValueError(f"{value!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _check_day(intervals: Sequence[tuple[str, str]]) -> None:
    previous_close = -1
    for open_, close in intervals:
        o, c = hhmm_to_minutes(open_), hhmm_to_minutes(close)
        if o >= c:
            raise ValueError(f"opening {open_} is not before closing {close}")
        if o < previous_close:
            raise ValueError(f"interval {open_}-{close} overlaps or is out of order")
        previous_close = c


@dataclass(frozen=True)
class BusinessCalendar:
    """When the brand's clock runs. ``hours[weekday]`` (0 = Monday … 6 = Sunday) lists the local
    (open, close) "HH:MM" pairs of that day, sorted and disjoint; an empty tuple is a closed day.
    Holidays are local dates on which the clock does not run. Hashable (used as a cache key)."""

    tz: str
    hours: Hours
    holidays: frozenset[date] = frozenset()
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A cache key on the hot path (every deadline): hash the fields once, not per lookup.
        object.__setattr__(self, "_hash", hash((self.tz, self.hours, self.holidays)))
        if len(self.hours) != 7:
            raise ValueError("hours must list the 7 weekdays, Monday first")
        for day in self.hours:
            _check_day(day)
        if not any(self.hours):
            raise ValueError("business hours are closed on every day: the clock would never run")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.tz!r}") from None

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def weekly(cls, tz: str, hours: Mapping[int, Sequence[tuple[str, str]]],
               holidays: Iterable[date] = ()) -> BusinessCalendar:
        """Build from a mapping weekday (0 = Monday) → list of (open, close); missing days are
        closed."""
        return cls(tz=tz, hours=tuple(tuple(hours.get(d, ())) for d in range(7)),
                   holidays=frozenset(holidays))


@dataclass(frozen=True)
class BrandPolicy:
    key: str
    display_name: str
    accounts: frozenset[str] = frozenset()  # handles as configured; compared case-insensitively
    sla_ms: int = DEFAULT_SLA_MS
    ignore_after_ms: int = DEFAULT_IGNORE_AFTER_MS
    calendar: BusinessCalendar | None = None
    configured: bool = True
    timezone: str | None = None  # informational unless business hours are set
    # Per-platform identities, read by the sources (streams/sources). Bluesky DIDs and Mastodon
    # accounts ("user@instance", lower case) count as the brand's accounts too, so a record
    # carrying one as its author handle is the brand's whoever produced it.
    bluesky_dids: frozenset[str] = frozenset()
    bluesky_handles: frozenset[str] = frozenset()
    mastodon_accounts: frozenset[str] = frozenset()
    # Posts naming the brand without addressing it: hashtags (case-folded, without '#') and
    # keywords (as configured; matched case-insensitively on word boundaries).
    hashtags: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    # Lead times of the warnings before the SLA and the ignore deadline (business time), as
    # applied: always shorter than the budget they warn of (see lead_time_ms).
    due_soon_ms: int = DEFAULT_DUE_SOON_MS
    ignore_soon_ms: int = DEFAULT_IGNORE_SOON_MS
    _folded: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_folded", frozenset(
            fold_handle(a) for a in (*self.accounts, *self.bluesky_dids,
                                     *self.mastodon_accounts)))

    def is_account(self, handle: str) -> bool:
        return fold_handle(handle) in self._folded


def lead_time_ms(lead_ms: int, budget_ms: int) -> int:
    """A warning's lead time as applied: a default lead as long as the budget it warns of would
    warn at once, so it is cut to half the budget (a brand with a 10-minute SLA is warned 5
    minutes before, not at creation). Explicit leads are checked shorter than their budget."""
    return min(lead_ms, budget_ms // 2)


def fold_handle(handle: str) -> str:
    """Handles compare case-insensitively and with or without one leading '@'."""
    return handle.removeprefix("@").casefold()


@dataclass(frozen=True)
class BrandConfig:
    brands: Mapping[str, BrandPolicy] = field(default_factory=lambda: MappingProxyType({}))
    default_sla_ms: int = DEFAULT_SLA_MS
    default_ignore_after_ms: int = DEFAULT_IGNORE_AFTER_MS
    share_window_ms: int = DEFAULT_SHARE_WINDOW_MS
    default_due_soon_ms: int = DEFAULT_DUE_SOON_MS
    default_ignore_soon_ms: int = DEFAULT_IGNORE_SOON_MS

    # The methods below take the instant a mention was created (`at_ms`): one BrandConfig is
    # the same at every instant; a ConfigTimeline (streams/brand_versions.py) answers with the
    # version that was in force then.

    def policy_for(self, brand_key: str, at_ms: int | None = None) -> BrandPolicy:
        """The brand's policy; an unknown key gets the defaults with ``configured=False``."""
        policy = self.brands.get(brand_key)
        if policy is not None:
            return policy
        return BrandPolicy(key=brand_key, display_name=brand_key, sla_ms=self.default_sla_ms,
                           ignore_after_ms=self.default_ignore_after_ms, configured=False,
                           due_soon_ms=lead_time_ms(self.default_due_soon_ms,
                                                    self.default_sla_ms),
                           ignore_soon_ms=lead_time_ms(self.default_ignore_soon_ms,
                                                       self.default_ignore_after_ms))

    def warning_budgets(self, brand_key: str, at_ms: int | None = None) -> tuple[int, int]:
        """The business-time budgets after which the brand's complaints are due soon (SLA less
        its lead) and ignore soon (ignore deadline less its lead)."""
        policy = self.brands.get(brand_key)
        if policy is None:
            sla, ignore_after = self.default_sla_ms, self.default_ignore_after_ms
            return (sla - lead_time_ms(self.default_due_soon_ms, sla),
                    ignore_after - lead_time_ms(self.default_ignore_soon_ms, ignore_after))
        return (policy.sla_ms - policy.due_soon_ms,
                policy.ignore_after_ms - policy.ignore_soon_ms)

    def budgets(self, brand_key: str, at_ms: int | None = None
                ) -> tuple[int, int, BusinessCalendar | None]:
        """(sla_ms, ignore_after_ms, calendar) for the brand: the hot-path view of policy_for."""
        policy = self.brands.get(brand_key)
        if policy is None:
            return self.default_sla_ms, self.default_ignore_after_ms, None
        return policy.sla_ms, policy.ignore_after_ms, policy.calendar

    def is_brand_account(self, brand_key: str, handle: str, at_ms: int | None = None) -> bool:
        policy = self.brands.get(brand_key)
        return policy is not None and policy.is_account(handle)


def default_brand_config() -> BrandConfig:
    """No brands configured: every brand is audited as unconfigured with the default 1 h SLA,
    24 h ignore deadline and a 7-day share window."""
    return BrandConfig()


# -- parsing -----------------------------------------------------------------------------------

_TOP_KEYS = ("brands", "defaults")
_DEFAULT_KEYS = ("due_soon", "ignore_after", "ignore_soon", "share_window", "sla")
_BRAND_KEYS = ("accounts", "bluesky", "business_hours", "due_soon", "hashtags", "holidays",
               "ignore_after", "ignore_soon", "keywords", "mastodon", "name", "sla", "timezone")
_BLUESKY_KEYS = ("dids", "handles")
_MASTODON_KEYS = ("accounts",)
# did:plc:<24 base32> or did:web:<host>; the DID methods Bluesky accepts.
_DID_RE = re.compile(r"did:(plc:[a-z2-7]{24}|web:[A-Za-z0-9._:%-]{1,253})")
_BSKY_HANDLE_RE = re.compile(r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]"
                             r"[A-Za-z0-9-]{0,61}")
_MASTODON_ACCT_RE = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_-]+)*@([A-Za-z0-9-]+\.)+"
                               r"[A-Za-z0-9-]+")
_HASHTAG_RE = re.compile(r"\w+")
_DURATION_HELP = "(use e.g. '1h', '90m', '3600s')"


def parse_duration_ms(value: object) -> int:
    """'1h', '90m', '3600s', '7d', '1h30m' → milliseconds (positive). Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration {_DURATION_HELP}")
    m = _DURATION_RE.fullmatch(value.strip())
    if not value.strip() or not m:
        raise ValueError(f"{value!r} is not a duration {_DURATION_HELP}")
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    total = ((d * 24 + h) * 60 + mi) * 60_000 + s * 1000
    if total <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return total


def format_duration(ms: int) -> str:
    """Inverse of parse_duration_ms for display ('1h', '90m', '1d2h')."""
    parts = []
    seconds = ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, message: str) -> BrandConfigError:
        return BrandConfigError(f"{self.source}: {path}: {message}")

    def check_keys(self, table: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
        for key in sorted(table):
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                raise self.error(f"{path}.{key}" if path else key,
                                 f"unknown key (allowed: {', '.join(allowed)}){suggestion}")

    def table(self, value: object, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"must be a table, got {type(value).__name__}")
        return value

    def duration(self, table: Mapping[str, Any], key: str, path: str, default: int) -> int:
        if key not in table:
            return default
        try:
            return parse_duration_ms(table[key])
        except ValueError as exc:
            raise self.error(f"{path}.{key}", str(exc)) from None


def _parse_day(ctx: _Ctx, value: object, path: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, str):
        raise ctx.error(path, "must be a string like \"08:00-18:00\", "
                        "\"08:00-12:00,13:00-17:00\" or \"closed\"")
    text = value.strip()
    if text.lower() == "closed":
        return ()
    intervals = []
    for part in text.split(","):
        pieces = part.strip().split("-")
        if len(pieces) != 2:
            raise ctx.error(path, f"{part.strip()!r} is not an interval like \"08:00-18:00\"")
        intervals.append((pieces[0].strip(), pieces[1].strip()))
    try:
        _check_day(intervals)
    except ValueError as exc:
        raise ctx.error(path, str(exc)) from None
    return tuple(intervals)


def _parse_brand(ctx: _Ctx, key: str, raw: object,
                 cfg_defaults: tuple[int, int, int, int]) -> BrandPolicy:
    path = f"brands.{key}"
    if not BRAND_KEY_RE.fullmatch(key):
        raise ctx.error(path, f"{key!r} is not a brand key (letters, digits, _ . -; at most 64, "
                        "not starting with . or -)")
    table = ctx.table(raw, path)
    ctx.check_keys(table, _BRAND_KEYS, path)

    name = table.get("name", key)
    if not isinstance(name, str) or not name.strip():
        raise ctx.error(f"{path}.name", "must be a non-empty string")

    accounts_raw = table.get("accounts", [])
    if not isinstance(accounts_raw, list):
        raise ctx.error(f"{path}.accounts", "must be a list of handles, e.g. [\"DB_Bahn\"]")
    accounts = []
    for i, handle in enumerate(accounts_raw):
        if (not isinstance(handle, str) or not handle.removeprefix("@")
                or len(handle) > _HANDLE_MAX or any(ch.isspace() for ch in handle)):
            raise ctx.error(f"{path}.accounts[{i}]",
                            f"{handle!r} is not a handle (a non-empty string without spaces)")
        accounts.append(handle.removeprefix("@"))

    identities = _parse_identities(ctx, table, path)

    sla = ctx.duration(table, "sla", path, cfg_defaults[0])
    ignore_after = ctx.duration(table, "ignore_after", path, cfg_defaults[1])
    if ignore_after < sla:
        raise ctx.error(f"{path}.ignore_after", f"{format_duration(ignore_after)} is shorter "
                        f"than the SLA ({format_duration(sla)}): a complaint would be ignored "
                        "before it is overdue")
    due_soon = _lead(ctx, table, "due_soon", path, cfg_defaults[2], sla, "sla")
    ignore_soon = _lead(ctx, table, "ignore_soon", path, cfg_defaults[3], ignore_after,
                        "ignore_after")

    tz = table.get("timezone")
    if tz is not None:
        if not isinstance(tz, str):
            raise ctx.error(f"{path}.timezone", "must be a string like \"Europe/Berlin\"")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ctx.error(f"{path}.timezone",
                            f"{tz!r} is not a known time zone (e.g. \"Europe/Berlin\")") from None

    calendar = None
    if "business_hours" in table:
        hours_table = ctx.table(table["business_hours"], f"{path}.business_hours")
        ctx.check_keys(hours_table, (*WEEKDAYS, "holidays"), f"{path}.business_hours")
        for day in WEEKDAYS:
            if day not in hours_table:
                raise ctx.error(f"{path}.business_hours.{day}",
                                "is missing (every day must be given; write \"closed\")")
        hours = tuple(_parse_day(ctx, hours_table[day], f"{path}.business_hours.{day}")
                      for day in WEEKDAYS)
        if not any(hours):
            raise ctx.error(f"{path}.business_hours",
                            "every day is closed: the SLA clock would never run")
        if tz is None:
            raise ctx.error(f"{path}.timezone",
                            "is required with business_hours (e.g. \"Europe/Berlin\")")
        holidays: set[date] = set()
        hpath = f"{path}.holidays"
        raw_holidays = table.get("holidays", [])
        if "holidays" in hours_table:
            if "holidays" in table:
                raise ctx.error(f"{path}.business_hours.holidays",
                                f"holidays are given twice (here and in {hpath})")
            hpath = f"{path}.business_hours.holidays"
            raw_holidays = hours_table["holidays"]
        if not isinstance(raw_holidays, list):
            raise ctx.error(hpath, "must be a list of dates, e.g. [\"2026-12-25\"]")
        for i, item in enumerate(raw_holidays):
            if type(item) is date:  # a TOML local date; a datetime is not a holiday
                holidays.add(item)
                continue
            try:
                if not isinstance(item, str) or len(item) != 10:
                    raise ValueError
                holidays.add(date.fromisoformat(item))
            except ValueError:
                raise ctx.error(f"{hpath}[{i}]",
                                f"{item!r} is not a date (YYYY-MM-DD)") from None
        calendar = BusinessCalendar(tz=tz, hours=hours, holidays=frozenset(holidays))
    elif "holidays" in table:
        raise ctx.error(f"{path}.holidays", "has no effect without business_hours")

    return BrandPolicy(key=key, display_name=name.strip(), accounts=frozenset(accounts),
                       sla_ms=sla, ignore_after_ms=ignore_after, calendar=calendar,
                       configured=True, timezone=tz, due_soon_ms=due_soon,
                       ignore_soon_ms=ignore_soon, **identities)


def _lead(ctx: _Ctx, table: Mapping[str, Any], key: str, path: str, default_ms: int,
          budget_ms: int, budget_key: str) -> int:
    """A warning's lead time: explicit ones must be shorter than the budget they warn of;
    the default is cut to half a short budget (lead_time_ms)."""
    if key not in table:
        return lead_time_ms(default_ms, budget_ms)
    lead = ctx.duration(table, key, path, default_ms)
    if lead >= budget_ms:
        raise ctx.error(f"{path}.{key}", f"{format_duration(lead)} is not shorter than "
                        f"{budget_key} ({format_duration(budget_ms)}): the warning would come "
                        "at once")
    return lead


def _strings(ctx: _Ctx, table: Mapping[str, Any], key: str, path: str, pattern: re.Pattern[str],
             what: str, example: str) -> list[str]:
    raw = table.get(key, [])
    if not isinstance(raw, list):
        raise ctx.error(f"{path}.{key}", f"must be a list of {what}, e.g. [{example}]")
    values = []
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not pattern.fullmatch(item):
            one = what[:-1]
            article = "an" if one[0] in "aeiou" else "a"
            raise ctx.error(f"{path}.{key}[{i}]", f"{item!r} is not {article} {one} (e.g. "
                            f"{example})")
        values.append(item)
    return values


def _parse_identities(ctx: _Ctx, table: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The brand's Bluesky and Mastodon identities, hashtags and keywords (all optional)."""
    bluesky = ctx.table(table.get("bluesky", {}), f"{path}.bluesky")
    ctx.check_keys(bluesky, _BLUESKY_KEYS, f"{path}.bluesky")
    dids = _strings(ctx, bluesky, "dids", f"{path}.bluesky", _DID_RE, "DIDs",
                    '"did:plc:ewvi7nxzyoun6zhxrhs64oiz"')
    handles = [h.removeprefix("@").lower() for h in _strings(
        ctx, bluesky, "handles", f"{path}.bluesky", re.compile(r"@?" + _BSKY_HANDLE_RE.pattern),
        "handles", '"bahn.bsky.social"')]
    mastodon = ctx.table(table.get("mastodon", {}), f"{path}.mastodon")
    ctx.check_keys(mastodon, _MASTODON_KEYS, f"{path}.mastodon")
    accts = [a.removeprefix("@").lower() for a in _strings(
        ctx, mastodon, "accounts", f"{path}.mastodon",
        re.compile(r"@?" + _MASTODON_ACCT_RE.pattern), "accounts", '"bahn@social.example"')]
    tags = [t.removeprefix("#").casefold() for t in _strings(
        ctx, table, "hashtags", path, re.compile(r"#?" + _HASHTAG_RE.pattern), "hashtags",
        '"DBhilft"')]
    keywords = _strings(ctx, table, "keywords", path, re.compile(r"\S(.{0,98}\S)?"), "keywords",
                        '"Deutsche Bahn"')
    return {"bluesky_dids": frozenset(dids), "bluesky_handles": frozenset(handles),
            "mastodon_accounts": frozenset(accts), "hashtags": frozenset(tags),
            "keywords": tuple(dict.fromkeys(keywords))}


def parse_brand_config(text: str, *, source: str = "<string>") -> BrandConfig:
    """TOML text → BrandConfig. Raises BrandConfigError naming ``source``, brand and field."""
    ctx = _Ctx(source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BrandConfigError(f"{source}: not valid TOML: {exc}") from None
    ctx.check_keys(doc, _TOP_KEYS, "")

    defaults = ctx.table(doc.get("defaults", {}), "defaults")
    ctx.check_keys(defaults, _DEFAULT_KEYS, "defaults")
    sla = ctx.duration(defaults, "sla", "defaults", DEFAULT_SLA_MS)
    ignore_after = ctx.duration(defaults, "ignore_after", "defaults", DEFAULT_IGNORE_AFTER_MS)
    share_window = ctx.duration(defaults, "share_window", "defaults", DEFAULT_SHARE_WINDOW_MS)
    due_soon = ctx.duration(defaults, "due_soon", "defaults", DEFAULT_DUE_SOON_MS)
    ignore_soon = ctx.duration(defaults, "ignore_soon", "defaults", DEFAULT_IGNORE_SOON_MS)
    if ignore_after < sla:
        raise ctx.error("defaults.ignore_after", f"{format_duration(ignore_after)} is shorter "
                        f"than the SLA ({format_duration(sla)})")

    brands_table = ctx.table(doc.get("brands", {}), "brands")
    brands: dict[str, BrandPolicy] = {}
    for key in sorted(brands_table):
        brands[key] = _parse_brand(ctx, key, brands_table[key],
                                   (sla, ignore_after, due_soon, ignore_soon))
    return BrandConfig(brands=MappingProxyType(brands), default_sla_ms=sla,
                       default_ignore_after_ms=ignore_after, share_window_ms=share_window,
                       default_due_soon_ms=due_soon, default_ignore_soon_ms=ignore_soon)


def _canonical(value: Any) -> Any:
    """A JSON-able canonical form: dataclasses as their public fields, sets sorted."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.name.startswith("_")}
    if isinstance(value, Mapping):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, frozenset | set):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def brand_config_sha256(config: BrandConfig) -> str:
    """A hash of the configuration's content (every brand's policy and the defaults, as
    parsed): the same for the same content whatever the file's layout, order or comments."""
    import hashlib
    import json

    text = json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
