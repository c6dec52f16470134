"""The audit report: per brand and platform, both views, from item statuses (pure).

Rendering is deterministic: the same statuses and arguments give byte-identical output, in any
input order (everything is sorted, floats have fixed precision, no wall-clock time appears).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from schemas.codec import format_rfc3339_ms
from streams.audit_periods import PeriodIndex
from streams.brands import WEEKDAYS, BrandConfig, BrandPolicy
from streams.business_time import business_elapsed_ms
from streams.stats import median, p90_nearest_rank
from streams.tracking import ItemStatus

VIEWS = ("complaints", "all_inbound")
# 2: provenance, answered-late / open (/ answered) ids, periods, reach, lead times and hours.
REPORT_FORMAT_VERSION = 2
Format = Literal["json", "csv", "md", "html"]


# First response times against the brand's SLA: at most 25%, 50%, 100%, 200% of it, or more.
# Each upper bound as (numerator, denominator) of the SLA, so the comparison is exact.
SLA_BUCKET_BOUNDS = ((1, 4), (1, 2), (1, 1), (2, 1))
SLA_BUCKET_KEYS = ("le_25pct", "le_50pct", "le_100pct", "le_200pct", "gt_200pct")
NO_SLA_BUCKETS = (0, 0, 0, 0, 0)


def sla_bucket(response_ms: int, sla_ms: int) -> int:
    """The index in SLA_BUCKET_KEYS of a first response time against the SLA, both in business
    time ("at most" includes the bound, exactly: a response of exactly the SLA is within it)."""
    for index, (numerator, denominator) in enumerate(SLA_BUCKET_BOUNDS):
        if response_ms * denominator <= sla_ms * numerator:
            return index
    return len(SLA_BUCKET_BOUNDS)


def sla_buckets(responses_ms: Iterable[int], sla_ms: int) -> tuple[int, ...]:
    """How many of the first response times fall in each bucket of SLA_BUCKET_KEYS."""
    counts = [0] * len(SLA_BUCKET_KEYS)
    for response_ms in responses_ms:
        counts[sla_bucket(response_ms, sla_ms)] += 1
    return tuple(counts)


def response_bucket(s: ItemStatus, config: BrandConfig) -> int | None:
    """The SLA bucket of an item's first response (None: not answered), against the SLA in
    force when the item was created, in the brand's business time (the SLA's own clock: an
    answer on Monday 09:05 to a complaint of Friday 17:55 took 10 business minutes)."""
    if s.first_response_ms is None:
        return None
    sla_ms, _, calendar = config.budgets(s.brand, s.created_at_ms)
    response_ms = s.first_response_ms
    if calendar is not None:
        response_ms = business_elapsed_ms(s.created_at_ms, s.created_at_ms + response_ms,
                                          calendar)
    return sla_bucket(response_ms, sla_ms)


@dataclass(frozen=True)
class ViewCounts:
    """One view (complaints or all inbound) of a set of items.

    inbound = answered + ignored + open; decided = answered + ignored. ``answered`` is answered
    in time; ``ignored`` includes the items answered after the ignore deadline, which are also
    counted in ``answered_late`` (a later answer doesn't undo "ignored"). ``overdue`` counts open
    items past the SLA. ``ignored_share`` = ignored / decided, None when nothing is decided.
    First-response statistics (seconds) cover answered and answered-late items."""

    inbound: int
    answered: int
    answered_late: int
    ignored: int
    open: int
    overdue: int
    decided: int
    ignored_share: float | None
    first_response_median_s: float | None
    first_response_p90_s: float | None
    ignored_ids: tuple[str, ...] = ()
    answered_late_ids: tuple[str, ...] = ()  # a subset of ignored_ids
    open_ids: tuple[str, ...] = ()
    answered_ids: tuple[str, ...] | None = None  # answered in time: only when asked for
    # Reach of the ignored items: their distinct authors, how many of them had a known follower
    # count, and the sum of those counts (each author once: the largest count seen).
    reach_authors: int = 0
    reach_authors_known: int = 0
    reach_followers: int = 0
    # The first response times (answered and answered late) per bucket of SLA_BUCKET_KEYS,
    # relative to the SLA of each item's brand (calendar time against the SLA's length).
    first_response_vs_sla: tuple[int, ...] = NO_SLA_BUCKETS


@dataclass(frozen=True)
class PeriodReport:
    """One period (by the mentions' creation) of a brand or of all brands, decided with every
    record of the report (a reply after the period's end still answers)."""

    period: str
    from_ms: int
    to_ms: int
    complaints: ViewCounts
    all_inbound: ViewCounts


@dataclass(frozen=True)
class PlatformReport:
    platform: str
    complaints: ViewCounts
    all_inbound: ViewCounts


@dataclass(frozen=True)
class BrandReport:
    brand: str
    display_name: str
    configured: bool
    sla_s: float
    ignore_after_s: float
    timezone: str | None
    business_hours: bool
    platforms: tuple[PlatformReport, ...]
    complaints: ViewCounts  # over all platforms
    all_inbound: ViewCounts
    due_soon_s: float = 0.0
    ignore_soon_s: float = 0.0
    hours: str | None = None  # business hours, "mon 09:00-17:00; ..." (None: around the clock)
    holidays: tuple[str, ...] = ()
    periods: tuple[PeriodReport, ...] = ()


@dataclass(frozen=True)
class AuditReport:
    range_from_ms: int | None
    range_to_ms: int | None
    watermark_ms: int | None
    brand_filter: str | None
    brands: tuple[BrandReport, ...]
    complaints: ViewCounts  # over all brands
    all_inbound: ViewCounts
    by: str | None = None  # day, week, month: the periods' length
    periods: tuple[PeriodReport, ...] = ()  # all brands, per period
    with_answered_ids: bool = False
    # Where the figures come from (version, topics, offsets, counts, classifier, configuration):
    # built by the shell, rendered as given (JSON-like values, keys in a fixed order).
    provenance: dict[str, Any] | None = None


def brand_sort_key(brand: str) -> tuple[str, str]:
    """Brands in case-insensitive order (sprintcare before Tesco), ties broken by the key
    itself: a total, stable order."""
    return (brand.casefold(), brand)


def id_sort_key(mention_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order (as platforms number them), then the others as text."""
    if mention_id.isdigit():
        return (0, int(mention_id), mention_id)
    return (1, 0, mention_id)


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 3)


@dataclass(slots=True)
class _Cell:
    """The items of one (brand, platform, complaint) group, reduced to what a view reports."""

    answered: int = 0
    answered_late: int = 0
    ignored: int = 0
    open: int = 0
    overdue: int = 0
    responses: list[int] = field(default_factory=list)  # first response ms
    vs_sla: list[int] = field(default_factory=lambda: [0] * len(SLA_BUCKET_KEYS))
    ignored_ids: list[str] = field(default_factory=list)
    late_ids: list[str] = field(default_factory=list)
    open_ids: list[str] = field(default_factory=list)
    answered_ids: list[str] = field(default_factory=list)
    # Authors of ignored items → the largest follower count seen (-1: none known).
    reach: dict[str, int] = field(default_factory=dict)

    def add(self, s: ItemStatus, followers: int | None = None,
            answered_ids: bool = False, bucket: int | None = None) -> None:
        status = s.status
        if status == "answered":
            self.answered += 1
            if answered_ids:
                self.answered_ids.append(s.mention_id)
        elif status == "ignored":
            self.ignored += 1
            self.ignored_ids.append(s.mention_id)
            if s.answered_late:
                self.answered_late += 1
                self.late_ids.append(s.mention_id)
            known = -1 if followers is None else followers
            if self.reach.get(s.author_key, -1) < known or s.author_key not in self.reach:
                self.reach[s.author_key] = known
        else:
            self.open += 1
            self.open_ids.append(s.mention_id)
            if s.overdue:
                self.overdue += 1
        if s.first_response_ms is not None:
            self.responses.append(s.first_response_ms)
        if bucket is not None:
            self.vs_sla[bucket] += 1

    def merge(self, other: _Cell) -> None:
        self.answered += other.answered
        self.answered_late += other.answered_late
        self.ignored += other.ignored
        self.open += other.open
        self.overdue += other.overdue
        self.responses += other.responses
        self.vs_sla = [a + b for a, b in zip(self.vs_sla, other.vs_sla, strict=True)]
        self.ignored_ids += other.ignored_ids
        self.late_ids += other.late_ids
        self.open_ids += other.open_ids
        self.answered_ids += other.answered_ids
        reach = self.reach
        for author, known in other.reach.items():
            if reach.get(author, -1) < known or author not in reach:
                reach[author] = known


def _merged(cells: Iterable[_Cell]) -> _Cell:
    out = _Cell()
    for cell in cells:
        out.merge(cell)
    return out


def _ids(ids: list[str]) -> tuple[str, ...]:
    return tuple(sorted(ids, key=id_sort_key))


def _counts(cell: _Cell, with_ids: bool, with_answered: bool = False) -> ViewCounts:
    decided = cell.answered + cell.ignored
    # Sorted once here; the statistics sort again, which costs one pass over sorted input.
    responses = sorted(cell.responses)
    return ViewCounts(
        inbound=decided + cell.open,
        answered=cell.answered,
        answered_late=cell.answered_late,
        ignored=cell.ignored,
        open=cell.open,
        overdue=cell.overdue,
        decided=decided,
        ignored_share=round(cell.ignored / decided, 6) if decided else None,
        first_response_median_s=_seconds(median(responses)),
        first_response_p90_s=_seconds(p90_nearest_rank(responses)),
        ignored_ids=_ids(cell.ignored_ids) if with_ids else (),
        answered_late_ids=_ids(cell.late_ids) if with_ids else (),
        open_ids=_ids(cell.open_ids) if with_ids else (),
        answered_ids=_ids(cell.answered_ids) if with_ids and with_answered else None,
        reach_authors=len(cell.reach),
        reach_authors_known=sum(1 for known in cell.reach.values() if known >= 0),
        reach_followers=sum(known for known in cell.reach.values() if known > 0),
        first_response_vs_sla=tuple(cell.vs_sla),
    )


def _views(complaints: _Cell, others: _Cell, with_ids: bool, with_answered: bool = False
           ) -> tuple[ViewCounts, ViewCounts]:
    return (_counts(complaints, with_ids, with_answered),
            _counts(_merged((complaints, others)), with_ids, with_answered))


_DAY_NAMES = WEEKDAYS


def describe_hours(policy: BrandPolicy) -> tuple[str | None, tuple[str, ...]]:
    """A brand's business hours as text ("mon 09:00-17:00; ...; sun closed") and its holidays
    (ISO dates, sorted); (None, ()) without business hours."""
    calendar = policy.calendar
    if calendar is None:
        return None, ()
    days = []
    for name, intervals in zip(_DAY_NAMES, calendar.hours, strict=True):
        spans = ",".join(f"{o}-{c}" for o, c in intervals) or "closed"
        days.append(f"{name} {spans}")
    return "; ".join(days), tuple(sorted(d.isoformat() for d in calendar.holidays))


class AuditTally:
    """The statuses of one report's items, counted per (brand, platform, complaint) as they come:
    a replay counts each shard of its threads on its own and merges the tallies (any order gives
    the same report). Items outside [range_from, range_to) (None: unbounded) or, with a brand
    filter, of another brand are not counted."""

    def __init__(self, *, range_from_ms: int | None, range_to_ms: int | None,
                 brand_filter: str | None, by: str | None = None,
                 answered_ids: bool = False) -> None:
        """by: day, week or month: also count per period of the items' creation (UTC).
        answered_ids: also list the ids of the items answered in time (there can be many)."""
        self.range_from_ms = range_from_ms
        self.range_to_ms = range_to_ms
        self.brand_filter = brand_filter
        self.by = by
        self.answered_ids = answered_ids
        self.cells: dict[tuple[str, str, bool], _Cell] = {}
        # (brand, period start, complaint) → the items created in that period.
        self.period_cells: dict[tuple[str, int, bool], _Cell] = {}
        self._period_of = PeriodIndex(by) if by is not None else None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_period_of"] = None  # a cache: rebuilt on the other side
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._period_of = PeriodIndex(self.by) if self.by is not None else None

    def add(self, s: ItemStatus, config: BrandConfig, followers: int | None = None) -> None:
        """config: the configuration the item was judged with (its SLA places the first
        response in a bucket); followers: the follower count of the item's author, where the
        record gives it."""
        if self.range_from_ms is not None and s.created_at_ms < self.range_from_ms:
            return
        if self.range_to_ms is not None and s.created_at_ms >= self.range_to_ms:
            return
        if self.brand_filter is not None and s.brand != self.brand_filter:
            return
        group = (s.brand, s.platform, s.complaint)
        cell = self.cells.get(group)
        if cell is None:
            cell = self.cells[group] = _Cell()
        bucket = response_bucket(s, config)
        cell.add(s, followers, self.answered_ids, bucket)
        if self._period_of is not None:
            start = self._period_of(s.created_at_ms)[0]
            key = (s.brand, start, s.complaint)
            pcell = self.period_cells.get(key)
            if pcell is None:
                pcell = self.period_cells[key] = _Cell()
            pcell.add(s, followers, bucket=bucket)

    def merge(self, other: AuditTally) -> None:
        if (other.range_from_ms, other.range_to_ms, other.brand_filter, other.by,
                other.answered_ids) != (self.range_from_ms, self.range_to_ms,
                                        self.brand_filter, self.by, self.answered_ids):
            raise ValueError("tallies of different ranges, brand filters, periods or id lists "
                             "can't be merged")
        for group, cell in other.cells.items():
            mine = self.cells.get(group)
            if mine is None:
                self.cells[group] = mine = _Cell()
            mine.merge(cell)
        for pgroup, cell in other.period_cells.items():
            pmine = self.period_cells.get(pgroup)
            if pmine is None:
                self.period_cells[pgroup] = pmine = _Cell()
            pmine.merge(cell)

    def _periods(self, brand: str | None, starts: list[int]) -> tuple[PeriodReport, ...]:
        """Per period start (every period of the report, zeros where the brand had none), the
        views of one brand (None: all brands)."""
        if self._period_of is None:
            return ()
        empty = _Cell()
        out = []
        every: dict[tuple[int, bool], list[tuple[str, _Cell]]] = defaultdict(list)
        if brand is None:
            for (key, start, flag), cell in self.period_cells.items():
                cell.responses.sort()
                every[(start, flag)].append((key, cell))
        for start in starts:
            _, end, label = self._period_of(start)
            if brand is not None:
                complaints = self.period_cells.get((brand, start, True), empty)
                others = self.period_cells.get((brand, start, False), empty)
                complaints.responses.sort()
                others.responses.sort()
                out.append(PeriodReport(label, start, end, *_views(complaints, others, False)))
                continue
            mine, theirs = every[(start, True)], every[(start, False)]
            out.append(PeriodReport(label, start, end, *_views(
                _merged(c for _, c in mine), _merged(c for _, c in theirs), False)))
        return tuple(out)

    def report(self, config: BrandConfig, watermark_ms: int | None,
               provenance: dict[str, Any] | None = None) -> AuditReport:
        """Every configured brand is listed (with zeros when it had no mentions), and so is
        every other brand seen, flagged unconfigured with the defaults."""
        by_brand: dict[str, dict[str, dict[bool, _Cell]]] = defaultdict(
            lambda: defaultdict(dict))
        for (brand, platform, complaint), cell in self.cells.items():
            # Sorted in place (order doesn't matter to a cell): the merged views then
            # concatenate sorted runs, which sort in about one pass.
            cell.responses.sort()
            by_brand[brand][platform][complaint] = cell
        keys = set(by_brand)
        if self.brand_filter is None:
            keys.update(config.brands)
        else:
            keys.add(self.brand_filter)
        starts = sorted({start for _, start, _ in self.period_cells})
        empty = _Cell()
        brands = []
        all_complaints, all_others = [], []
        for key in sorted(keys, key=brand_sort_key):
            policy = config.policy_for(key)
            platforms = by_brand.get(key, {})
            rows = []
            brand_complaints, brand_others = [], []
            for platform in sorted(platforms):
                cells = platforms[platform]
                complaints, others = cells.get(True, empty), cells.get(False, empty)
                rows.append(PlatformReport(platform, *_views(complaints, others, True,
                                                             self.answered_ids)))
                brand_complaints.append(complaints)
                brand_others.append(others)
            complaints_view, everything = _views(_merged(brand_complaints),
                                                 _merged(brand_others), False)
            all_complaints += brand_complaints
            all_others += brand_others
            hours, holidays = describe_hours(policy)
            brands.append(BrandReport(
                brand=key, display_name=policy.display_name, configured=policy.configured,
                sla_s=policy.sla_ms / 1000, ignore_after_s=policy.ignore_after_ms / 1000,
                timezone=policy.timezone, business_hours=policy.calendar is not None,
                platforms=tuple(rows), complaints=complaints_view, all_inbound=everything,
                due_soon_s=policy.due_soon_ms / 1000,
                ignore_soon_s=policy.ignore_soon_ms / 1000,
                hours=hours, holidays=holidays, periods=self._periods(key, starts),
            ))
        complaints_view, everything = _views(_merged(all_complaints), _merged(all_others),
                                             False)
        return AuditReport(range_from_ms=self.range_from_ms, range_to_ms=self.range_to_ms,
                           watermark_ms=watermark_ms, brand_filter=self.brand_filter,
                           brands=tuple(brands), complaints=complaints_view,
                           all_inbound=everything, by=self.by,
                           periods=self._periods(None, starts),
                           with_answered_ids=self.answered_ids, provenance=provenance)


def build_report(statuses: Iterable[ItemStatus], config: BrandConfig, *,
                 range_from_ms: int | None, range_to_ms: int | None, watermark_ms: int | None,
                 brand_filter: str | None, by: str | None = None, answered_ids: bool = False,
                 followers: dict[str, int] | None = None,
                 provenance: dict[str, Any] | None = None) -> AuditReport:
    """The report of the items whose event time lies in [range_from, range_to) (None:
    unbounded) and, with a brand filter, of that brand (AuditTally.report). followers: mention
    id → its author's follower count, where known."""
    tally = AuditTally(range_from_ms=range_from_ms, range_to_ms=range_to_ms,
                       brand_filter=brand_filter, by=by, answered_ids=answered_ids)
    known = followers or {}
    for s in statuses:
        tally.add(s, config, known.get(s.mention_id))
    return tally.report(config, watermark_ms, provenance)


# -- rendering -----------------------------------------------------------------------------------

def iso_ms(ms: int | None) -> str | None:
    """Epoch ms → RFC 3339 UTC with milliseconds (integer arithmetic, no float rounding)."""
    return None if ms is None else format_rfc3339_ms(ms)


def _view_dict(v: ViewCounts, with_ids: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "inbound": v.inbound, "answered": v.answered, "answered_late": v.answered_late,
        "ignored": v.ignored, "open": v.open, "overdue": v.overdue, "decided": v.decided,
        "ignored_share": v.ignored_share,
        "first_response_median_s": v.first_response_median_s,
        "first_response_p90_s": v.first_response_p90_s,
    }
    out["reach"] = {"ignored_authors": v.reach_authors,
                    "with_known_followers": v.reach_authors_known,
                    "followers": v.reach_followers}
    out["first_response_vs_sla"] = dict(zip(SLA_BUCKET_KEYS, v.first_response_vs_sla,
                                            strict=True))
    if with_ids:
        out["ignored_ids"] = list(v.ignored_ids)
        out["answered_late_ids"] = list(v.answered_late_ids)
        out["open_ids"] = list(v.open_ids)
        if v.answered_ids is not None:
            out["answered_ids"] = list(v.answered_ids)
    return out


def _periods_list(periods: tuple[PeriodReport, ...]) -> list[dict[str, Any]]:
    return [{"period": p.period, "from": iso_ms(p.from_ms), "to": iso_ms(p.to_ms),
             "complaints": _view_dict(p.complaints, False),
             "all_inbound": _view_dict(p.all_inbound, False)} for p in periods]


def report_to_dict(report: AuditReport) -> dict[str, Any]:
    out: dict[str, Any] = {
        "report": "mentionwatch audit",
        "format_version": REPORT_FORMAT_VERSION,
        "provenance": report.provenance,
        "range": {"from": iso_ms(report.range_from_ms), "to": iso_ms(report.range_to_ms),
                  "from_ms": report.range_from_ms, "to_ms": report.range_to_ms},
        "watermark": iso_ms(report.watermark_ms),
        "watermark_ms": report.watermark_ms,
        "brand_filter": report.brand_filter,
        "by": report.by,
        "answered_ids_listed": report.with_answered_ids,
        "totals": {"complaints": _view_dict(report.complaints, False),
                   "all_inbound": _view_dict(report.all_inbound, False)},
    }
    if report.by is not None:
        out["periods"] = _periods_list(report.periods)
    out["brands"] = [
            {
                "brand": b.brand,
                "display_name": b.display_name,
                "configured": b.configured,
                "sla_s": b.sla_s,
                "ignore_after_s": b.ignore_after_s,
                "due_soon_lead_s": b.due_soon_s,
                "ignore_soon_lead_s": b.ignore_soon_s,
                "timezone": b.timezone,
                "business_hours": b.business_hours,
                "hours": b.hours,
                "holidays": list(b.holidays),
                "totals": {"complaints": _view_dict(b.complaints, False),
                           "all_inbound": _view_dict(b.all_inbound, False)},
                **({"periods": _periods_list(b.periods)} if report.by is not None else {}),
                "platforms": [
                    {"platform": p.platform,
                     "complaints": _view_dict(p.complaints, True),
                     "all_inbound": _view_dict(p.all_inbound, True)}
                    for p in b.platforms
                ],
            }
            for b in report.brands
    ]
    return out


def flatten_provenance(provenance: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The provenance as (dotted key, text) pairs, in its order: for CSV and Markdown. Lists of
    scalars are joined by spaces; None is empty."""
    out: list[tuple[str, str]] = []

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list | tuple):
            if all(not isinstance(v, dict | list | tuple) for v in value):
                out.append((prefix, " ".join(text(v) for v in value)))
            else:
                for i, v in enumerate(value):
                    walk(f"{prefix}.{i}", v)
        else:
            out.append((prefix, text(value)))

    walk("", provenance or {})
    return out


def _num(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


_CSV_COLUMNS = (
    "record", "key", "value",
    "range_from", "range_to", "watermark", "brand", "display_name", "configured", "sla_s",
    "ignore_after_s", "due_soon_lead_s", "ignore_soon_lead_s", "timezone", "hours",
    "holidays", "platform", "period", "period_from", "period_to", "view", "inbound",
    "answered", "answered_late", "ignored", "open", "overdue", "decided", "ignored_share",
    "first_response_median_s", "first_response_p90_s", "reach_ignored_authors",
    "reach_with_known_followers", "reach_followers", "ignored_ids", "answered_late_ids",
    "open_ids", "answered_ids",
    *(f"first_response_sla_{key}" for key in SLA_BUCKET_KEYS),
)


def _render_csv(report: AuditReport) -> str:
    """One table: first the provenance (record "provenance": key, value), then the figures
    (record "figures"), per brand, platform ("*": all) and period ("*": the whole range)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    blank = [""] * (len(_CSV_COLUMNS) - 3)
    for key, value in flatten_provenance(report.provenance):
        writer.writerow(["provenance", key, value, *blank])
    head = ["figures", "", "", iso_ms(report.range_from_ms) or "",
            iso_ms(report.range_to_ms) or "", iso_ms(report.watermark_ms) or ""]

    def row(brand: list[str], platform: str, period: list[str], view: str,
            v: ViewCounts) -> None:
        answered = "" if v.answered_ids is None else " ".join(v.answered_ids)
        writer.writerow([*head, *brand, platform, *period, view, v.inbound, v.answered,
                         v.answered_late, v.ignored, v.open, v.overdue, v.decided,
                         _num(v.ignored_share, 4), _num(v.first_response_median_s, 3),
                         _num(v.first_response_p90_s, 3), v.reach_authors,
                         v.reach_authors_known, v.reach_followers, " ".join(v.ignored_ids),
                         " ".join(v.answered_late_ids), " ".join(v.open_ids), answered,
                         *v.first_response_vs_sla])

    whole = ["*", "", ""]

    def periods(brand: list[str], rows: tuple[PeriodReport, ...]) -> None:
        for p in rows:
            span = [p.period, iso_ms(p.from_ms) or "", iso_ms(p.to_ms) or ""]
            row(brand, "*", span, "complaints", p.complaints)
            row(brand, "*", span, "all_inbound", p.all_inbound)

    for b in report.brands:
        brand = [b.brand, b.display_name, "true" if b.configured else "false",
                 _num(b.sla_s, 3), _num(b.ignore_after_s, 3), _num(b.due_soon_s, 3),
                 _num(b.ignore_soon_s, 3), b.timezone or "", b.hours or "",
                 " ".join(b.holidays)]
        for p in b.platforms:
            row(brand, p.platform, whole, "complaints", p.complaints)
            row(brand, p.platform, whole, "all_inbound", p.all_inbound)
        row(brand, "*", whole, "complaints", b.complaints)
        row(brand, "*", whole, "all_inbound", b.all_inbound)
        periods(brand, b.periods)
    everyone = ["*", "all brands", "", "", "", "", "", "", "", ""]
    periods(everyone, report.periods)
    row(everyone, "*", whole, "complaints", report.complaints)
    row(everyone, "*", whole, "all_inbound", report.all_inbound)
    return buf.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _share(v: ViewCounts) -> str:
    return "—" if v.ignored_share is None else f"{v.ignored_share * 100:.1f}%"


def _md_row(label: str, view: str, v: ViewCounts) -> str:
    cells = [label, view, str(v.inbound), str(v.answered), str(v.answered_late), str(v.ignored),
             str(v.open), str(v.overdue), str(v.decided), _share(v),
             _num(v.first_response_median_s, 3) or "—", _num(v.first_response_p90_s, 3) or "—"]
    return "| " + " | ".join(cells) + " |"


_MD_HEADER = ("| platform | view | inbound | answered | answered late | ignored | open | overdue "
              "| decided | ignored share | first response median (s) | p90 (s) |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


_MD_PERIOD_HEADER = _MD_HEADER.replace("| platform |", "| period |", 1)


def _md_periods(title: str, periods: tuple[PeriodReport, ...]) -> list[str]:
    if not periods:
        return []
    lines = ["", title, "", _MD_PERIOD_HEADER]
    for p in periods:
        lines.append(_md_row(p.period, "complaints", p.complaints))
        lines.append(_md_row(p.period, "all inbound", p.all_inbound))
    return lines


def _md_reach(label: str, v: ViewCounts) -> str:
    return (f"- Reach of ignored {label}: {v.reach_authors} distinct authors, "
            f"{v.reach_authors_known} with a known follower count, "
            f"{v.reach_followers} followers in all.")


SLA_BUCKET_LABELS = ("≤25%", "≤50%", "≤100%", "≤200%", ">200%")


def _md_sla(label: str, v: ViewCounts) -> str:
    counts = ", ".join(f"{name} {n}" for name, n in zip(SLA_BUCKET_LABELS,
                                                         v.first_response_vs_sla, strict=True))
    return f"- First responses to {label} against the SLA: {counts}."


def _render_md(report: AuditReport) -> str:
    lines = ["# mentionwatch audit", ""]
    lines.append(f"- Range (event time, from inclusive, to exclusive): "
                 f"{iso_ms(report.range_from_ms) or 'start'} – "
                 f"{iso_ms(report.range_to_ms) or 'end'}")
    lines.append(f"- Watermark: {iso_ms(report.watermark_ms) or 'none (no records)'}")
    lines.append(f"- Brands: {_md_cell(report.brand_filter) if report.brand_filter else 'all'}")
    lines.append("- \"ignored\" includes mentions answered after the ignore deadline (also counted "
                 "as \"answered late\"); ignored share = ignored / decided, — when nothing is "
                 "decided.")
    lines.append("- First responses against the SLA: each first response time (answered and "
                 "answered late; calendar time) as a share of its brand's SLA, in buckets "
                 "(≤ includes the bound).")
    if report.by is not None:
        lines.append(f"- Periods: by {report.by} of the mentions' creation (UTC; weeks are ISO "
                     "weeks from Monday), each decided with every record of the report.")
    provenance = flatten_provenance(report.provenance)
    if provenance:
        lines += ["", "## Provenance", ""]
        lines += [f"- {_md_cell(key)}: {_md_cell(value) or '—'}" for key, value in provenance]
    lines += ["", "## All brands", "", _MD_HEADER,
              _md_row("*", "complaints", report.complaints),
              _md_row("*", "all inbound", report.all_inbound),
              "", _md_sla("complaints", report.complaints),
              _md_sla("inbound mentions", report.all_inbound)]
    lines += _md_periods("### All brands per period", report.periods)
    for b in report.brands:
        flag = "" if b.configured else " — **unconfigured** (default SLA and deadline)"
        hours = f", business hours ({b.timezone})" if b.business_hours else ""
        leads = (f"; warned {_num(b.due_soon_s, 0)} s before the SLA and "
                 f"{_num(b.ignore_soon_s, 0)} s before the ignore deadline")
        if b.hours is not None:
            hours += f": {_md_cell(b.hours)}"
            if b.holidays:
                hours += f"; holidays {', '.join(b.holidays)}"
        lines += ["", f"## {_md_cell(b.display_name)} (`{_md_cell(b.brand)}`){flag}", "",
                  f"SLA {_num(b.sla_s, 0)} s, ignore deadline {_num(b.ignore_after_s, 0)} s"
                  f"{leads}{hours}.", "", _MD_HEADER]
        for p in b.platforms:
            lines.append(_md_row(_md_cell(p.platform), "complaints", p.complaints))
            lines.append(_md_row(_md_cell(p.platform), "all inbound", p.all_inbound))
        lines.append(_md_row("*", "complaints", b.complaints))
        lines.append(_md_row("*", "all inbound", b.all_inbound))
        lines += ["", _md_reach("complaints", b.complaints),
                  _md_reach("inbound mentions", b.all_inbound),
                  _md_sla("complaints", b.complaints),
                  _md_sla("inbound mentions", b.all_inbound)]
        lines += _md_periods(f"### {_md_cell(b.display_name)} per period", b.periods)
        for p in b.platforms:
            for view, v in (("complaints", p.complaints), ("all inbound", p.all_inbound)):
                for name, ids in (("Ignored", v.ignored_ids),
                                  ("Answered late", v.answered_late_ids),
                                  ("Open", v.open_ids), ("Answered", v.answered_ids or ())):
                    if ids:
                        lines += ["", f"{name} ({_md_cell(p.platform)}, {view}): "
                                  + ", ".join(f"`{_md_cell(i)}`" for i in ids)]
    return "\n".join(lines) + "\n"


def render_report(report: AuditReport, fmt: Format | str) -> str:
    """json, csv, md or html; byte-identical for the same report."""
    if fmt == "json":
        return orjson.dumps(report_to_dict(report), option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "csv":
        return _render_csv(report)
    if fmt == "md":
        return _render_md(report)
    if fmt == "html":
        from streams.audit_html import render_html  # it imports this module

        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r} (json, csv, md or html)")
