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
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from streams.brands import BrandConfig
from streams.stats import median, p90_nearest_rank
from streams.tracking import ItemStatus

VIEWS = ("complaints", "all_inbound")
REPORT_FORMAT_VERSION = 1
Format = Literal["json", "csv", "md"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


@dataclass(frozen=True)
class AuditReport:
    range_from_ms: int | None
    range_to_ms: int | None
    watermark_ms: int | None
    brand_filter: str | None
    brands: tuple[BrandReport, ...]
    complaints: ViewCounts  # over all brands
    all_inbound: ViewCounts


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
    ignored_ids: list[str] = field(default_factory=list)

    def add(self, s: ItemStatus) -> None:
        status = s.status
        if status == "answered":
            self.answered += 1
        elif status == "ignored":
            self.ignored += 1
            self.ignored_ids.append(s.mention_id)
            if s.answered_late:
                self.answered_late += 1
        else:
            self.open += 1
            if s.overdue:
                self.overdue += 1
        if s.first_response_ms is not None:
            self.responses.append(s.first_response_ms)

    def merge(self, other: _Cell) -> None:
        self.answered += other.answered
        self.answered_late += other.answered_late
        self.ignored += other.ignored
        self.open += other.open
        self.overdue += other.overdue
        self.responses += other.responses
        self.ignored_ids += other.ignored_ids


def _merged(cells: Iterable[_Cell]) -> _Cell:
    out = _Cell()
    for cell in cells:
        out.merge(cell)
    return out


def _counts(cell: _Cell, with_ids: bool) -> ViewCounts:
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
        ignored_ids=tuple(sorted(cell.ignored_ids, key=id_sort_key)) if with_ids else (),
    )


def _views(complaints: _Cell, others: _Cell, with_ids: bool) -> tuple[ViewCounts, ViewCounts]:
    return _counts(complaints, with_ids), _counts(_merged((complaints, others)), with_ids)


class AuditTally:
    """The statuses of one report's items, counted per (brand, platform, complaint) as they come:
    a replay counts each shard of its threads on its own and merges the tallies (any order gives
    the same report). Items outside [range_from, range_to) (None: unbounded) or, with a brand
    filter, of another brand are not counted."""

    def __init__(self, *, range_from_ms: int | None, range_to_ms: int | None,
                 brand_filter: str | None) -> None:
        self.range_from_ms = range_from_ms
        self.range_to_ms = range_to_ms
        self.brand_filter = brand_filter
        self.cells: dict[tuple[str, str, bool], _Cell] = {}

    def add(self, s: ItemStatus) -> None:
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
        cell.add(s)

    def merge(self, other: AuditTally) -> None:
        if (other.range_from_ms, other.range_to_ms, other.brand_filter) != (
                self.range_from_ms, self.range_to_ms, self.brand_filter):
            raise ValueError("tallies of different ranges or brand filters can't be merged")
        for group, cell in other.cells.items():
            mine = self.cells.get(group)
            if mine is None:
                self.cells[group] = mine = _Cell()
            mine.merge(cell)

    def report(self, config: BrandConfig, watermark_ms: int | None) -> AuditReport:
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
        empty = _Cell()
        brands = []
        all_complaints, all_others = [], []
        for key in sorted(keys):
            policy = config.policy_for(key)
            platforms = by_brand.get(key, {})
            rows = []
            brand_complaints, brand_others = [], []
            for platform in sorted(platforms):
                cells = platforms[platform]
                complaints, others = cells.get(True, empty), cells.get(False, empty)
                rows.append(PlatformReport(platform, *_views(complaints, others, True)))
                brand_complaints.append(complaints)
                brand_others.append(others)
            complaints_view, everything = _views(_merged(brand_complaints),
                                                 _merged(brand_others), False)
            all_complaints += brand_complaints
            all_others += brand_others
            brands.append(BrandReport(
                brand=key, display_name=policy.display_name, configured=policy.configured,
                sla_s=policy.sla_ms / 1000, ignore_after_s=policy.ignore_after_ms / 1000,
                timezone=policy.timezone, business_hours=policy.calendar is not None,
                platforms=tuple(rows), complaints=complaints_view, all_inbound=everything,
            ))
        complaints_view, everything = _views(_merged(all_complaints), _merged(all_others),
                                             False)
        return AuditReport(range_from_ms=self.range_from_ms, range_to_ms=self.range_to_ms,
                           watermark_ms=watermark_ms, brand_filter=self.brand_filter,
                           brands=tuple(brands), complaints=complaints_view,
                           all_inbound=everything)


def build_report(statuses: Iterable[ItemStatus], config: BrandConfig, *,
                 range_from_ms: int | None, range_to_ms: int | None, watermark_ms: int | None,
                 brand_filter: str | None) -> AuditReport:
    """The report of the items whose event time lies in [range_from, range_to) (None:
    unbounded) and, with a brand filter, of that brand (AuditTally.report)."""
    tally = AuditTally(range_from_ms=range_from_ms, range_to_ms=range_to_ms,
                       brand_filter=brand_filter)
    for s in statuses:
        tally.add(s)
    return tally.report(config, watermark_ms)


# -- rendering -----------------------------------------------------------------------------------

def iso_ms(ms: int | None) -> str | None:
    """Epoch ms → RFC 3339 UTC with milliseconds (integer arithmetic, no float rounding)."""
    if ms is None:
        return None
    t = _EPOCH + timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _view_dict(v: ViewCounts, with_ids: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "inbound": v.inbound, "answered": v.answered, "answered_late": v.answered_late,
        "ignored": v.ignored, "open": v.open, "overdue": v.overdue, "decided": v.decided,
        "ignored_share": v.ignored_share,
        "first_response_median_s": v.first_response_median_s,
        "first_response_p90_s": v.first_response_p90_s,
    }
    if with_ids:
        out["ignored_ids"] = list(v.ignored_ids)
    return out


def report_to_dict(report: AuditReport) -> dict[str, Any]:
    return {
        "report": "mentionwatch audit",
        "format_version": REPORT_FORMAT_VERSION,
        "range": {"from": iso_ms(report.range_from_ms), "to": iso_ms(report.range_to_ms),
                  "from_ms": report.range_from_ms, "to_ms": report.range_to_ms},
        "watermark": iso_ms(report.watermark_ms),
        "watermark_ms": report.watermark_ms,
        "brand_filter": report.brand_filter,
        "totals": {"complaints": _view_dict(report.complaints, False),
                   "all_inbound": _view_dict(report.all_inbound, False)},
        "brands": [
            {
                "brand": b.brand,
                "display_name": b.display_name,
                "configured": b.configured,
                "sla_s": b.sla_s,
                "ignore_after_s": b.ignore_after_s,
                "timezone": b.timezone,
                "business_hours": b.business_hours,
                "totals": {"complaints": _view_dict(b.complaints, False),
                           "all_inbound": _view_dict(b.all_inbound, False)},
                "platforms": [
                    {"platform": p.platform,
                     "complaints": _view_dict(p.complaints, True),
                     "all_inbound": _view_dict(p.all_inbound, True)}
                    for p in b.platforms
                ],
            }
            for b in report.brands
        ],
    }


def _num(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


_CSV_COLUMNS = (
    "range_from", "range_to", "watermark", "brand", "display_name", "configured", "sla_s",
    "ignore_after_s", "platform", "view", "inbound", "answered", "answered_late", "ignored",
    "open", "overdue", "decided", "ignored_share", "first_response_median_s",
    "first_response_p90_s", "ignored_ids",
)


def _render_csv(report: AuditReport) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    head = [iso_ms(report.range_from_ms) or "", iso_ms(report.range_to_ms) or "",
            iso_ms(report.watermark_ms) or ""]

    def row(brand: list[str], platform: str, view: str, v: ViewCounts) -> None:
        writer.writerow([*head, *brand, platform, view, v.inbound, v.answered, v.answered_late,
                         v.ignored, v.open, v.overdue, v.decided, _num(v.ignored_share, 4),
                         _num(v.first_response_median_s, 3), _num(v.first_response_p90_s, 3),
                         " ".join(v.ignored_ids)])

    for b in report.brands:
        brand = [b.brand, b.display_name, "true" if b.configured else "false",
                 _num(b.sla_s, 3), _num(b.ignore_after_s, 3)]
        for p in b.platforms:
            row(brand, p.platform, "complaints", p.complaints)
            row(brand, p.platform, "all_inbound", p.all_inbound)
        row(brand, "*", "complaints", b.complaints)
        row(brand, "*", "all_inbound", b.all_inbound)
    row(["*", "all brands", "", "", ""], "*", "complaints", report.complaints)
    row(["*", "all brands", "", "", ""], "*", "all_inbound", report.all_inbound)
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
    lines += ["", "## All brands", "", _MD_HEADER,
              _md_row("*", "complaints", report.complaints),
              _md_row("*", "all inbound", report.all_inbound)]
    for b in report.brands:
        flag = "" if b.configured else " — **unconfigured** (default SLA and deadline)"
        hours = f", business hours ({b.timezone})" if b.business_hours else ""
        lines += ["", f"## {_md_cell(b.display_name)} (`{_md_cell(b.brand)}`){flag}", "",
                  f"SLA {_num(b.sla_s, 0)} s, ignore deadline {_num(b.ignore_after_s, 0)} s"
                  f"{hours}.", "", _MD_HEADER]
        for p in b.platforms:
            lines.append(_md_row(_md_cell(p.platform), "complaints", p.complaints))
            lines.append(_md_row(_md_cell(p.platform), "all inbound", p.all_inbound))
        lines.append(_md_row("*", "complaints", b.complaints))
        lines.append(_md_row("*", "all inbound", b.all_inbound))
        for p in b.platforms:
            for view, v in (("complaints", p.complaints), ("all inbound", p.all_inbound)):
                if v.ignored_ids:
                    lines += ["", f"Ignored ({_md_cell(p.platform)}, {view}): "
                              + ", ".join(f"`{_md_cell(i)}`" for i in v.ignored_ids)]
    return "\n".join(lines) + "\n"


def render_report(report: AuditReport, fmt: Format | str) -> str:
    """json, csv or md; byte-identical for the same report."""
    if fmt == "json":
        return orjson.dumps(report_to_dict(report), option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "csv":
        return _render_csv(report)
    if fmt == "md":
        return _render_md(report)
    raise ValueError(f"unknown report format {fmt!r} (json, csv or md)")
