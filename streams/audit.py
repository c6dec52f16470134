"""The audit report: per brand and platform, both views, from item statuses (pure).

Rendering is deterministic: the same statuses and arguments give byte-identical output, in any
input order (everything is sorted, floats have fixed precision, no wall-clock time appears).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


def _counts(items: Sequence[ItemStatus], with_ids: bool) -> ViewCounts:
    answered = sum(1 for s in items if s.status == "answered")
    ignored = [s for s in items if s.status == "ignored"]
    open_ = [s for s in items if s.status == "open"]
    decided = answered + len(ignored)
    responses = [s.first_response_ms for s in items if s.first_response_ms is not None]
    return ViewCounts(
        inbound=len(items),
        answered=answered,
        answered_late=sum(1 for s in ignored if s.answered_late),
        ignored=len(ignored),
        open=len(open_),
        overdue=sum(1 for s in open_ if s.overdue),
        decided=decided,
        ignored_share=round(len(ignored) / decided, 6) if decided else None,
        first_response_median_s=_seconds(median(responses)),
        first_response_p90_s=_seconds(p90_nearest_rank(responses)),
        ignored_ids=tuple(sorted((s.mention_id for s in ignored), key=id_sort_key))
        if with_ids else (),
    )


def _views(items: Sequence[ItemStatus], with_ids: bool) -> tuple[ViewCounts, ViewCounts]:
    return _counts([s for s in items if s.complaint], with_ids), _counts(items, with_ids)


def build_report(statuses: Iterable[ItemStatus], config: BrandConfig, *,
                 range_from_ms: int | None, range_to_ms: int | None, watermark_ms: int | None,
                 brand_filter: str | None) -> AuditReport:
    """Items whose event time lies in [range_from, range_to) (None: unbounded) and, with a
    brand filter, of that brand. Every configured brand is listed (with zeros when it had no
    mentions), and so is every other brand seen, flagged unconfigured with the defaults."""
    by_brand: dict[str, dict[str, list[ItemStatus]]] = defaultdict(lambda: defaultdict(list))
    selected: list[ItemStatus] = []
    for s in statuses:
        if range_from_ms is not None and s.created_at_ms < range_from_ms:
            continue
        if range_to_ms is not None and s.created_at_ms >= range_to_ms:
            continue
        if brand_filter is not None and s.brand != brand_filter:
            continue
        by_brand[s.brand][s.platform].append(s)
        selected.append(s)
    keys = set(by_brand)
    if brand_filter is None:
        keys.update(config.brands)
    else:
        keys.add(brand_filter)
    brands = []
    for key in sorted(keys):
        policy = config.policy_for(key)
        platforms = by_brand.get(key, {})
        rows = []
        for platform in sorted(platforms):
            complaints, everything = _views(platforms[platform], True)
            rows.append(PlatformReport(platform, complaints, everything))
        all_items = [s for p in sorted(platforms) for s in platforms[p]]
        complaints, everything = _views(all_items, False)
        brands.append(BrandReport(
            brand=key, display_name=policy.display_name, configured=policy.configured,
            sla_s=policy.sla_ms / 1000, ignore_after_s=policy.ignore_after_ms / 1000,
            timezone=policy.timezone, business_hours=policy.calendar is not None,
            platforms=tuple(rows), complaints=complaints, all_inbound=everything,
        ))
    complaints, everything = _views(selected, False)
    return AuditReport(range_from_ms=range_from_ms, range_to_ms=range_to_ms,
                       watermark_ms=watermark_ms, brand_filter=brand_filter,
                       brands=tuple(brands), complaints=complaints, all_inbound=everything)


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
