"""The audit report as one self-contained HTML file (pure): readable offline, printable.

No script, no external style, font or image: the page makes no request (a Content-Security-Policy
says so to the browser too). Charts are inline SVG; every number a chart draws is in the SVG as
data attributes (``data-chart``, ``data-brand``, ``data-view``, ``data-key``, ``data-value``) and
in a <title>, so a test or an auditor can read them back and compare them with the JSON report;
each chart has a <title>, a <desc> and a table with the same numbers. Every text that comes from
the records or the configuration (brand keys and names, platforms, ids, provenance values) is
escaped. Byte-identical for the same report: everything follows the report's own order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from streams.audit import (
    SLA_BUCKET_BOUNDS,
    SLA_BUCKET_KEYS,
    SLA_BUCKET_LABELS,
    AuditReport,
    BrandReport,
    PeriodReport,
    ViewCounts,
    flatten_provenance,
    iso_ms,
)

VIEWS = (("complaints", "complaints"), ("all_inbound", "all inbound"))
# Okabe–Ito colours: distinguishable with the common colour vision deficiencies, and in print.
VIEW_COLOURS = {"complaints": "#0072B2", "all_inbound": "#56B4E9"}
OUTCOMES = (("answered", "answered in time", "#009E73"),
            ("answered_late", "answered late (after the ignore deadline)", "#E69F00"),
            ("ignored_unanswered", "ignored, not answered", "#D55E00"),
            ("open", "open", "#BBBBBB"))
FONT = "font-family:system-ui,sans-serif"

STYLE = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, sans-serif; color: #111; background: #fff; margin: 0 auto;
  max-width: 1100px; padding: 16px 24px; }
h1 { font-size: 1.6em; margin: 0.2em 0; } h2 { font-size: 1.3em; margin-top: 1.6em; }
h3 { font-size: 1.1em; } h4 { font-size: 1em; margin: 0.8em 0 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #bbb; padding: 2px 6px; vertical-align: top; }
th { background: #eee; text-align: left; }
th[scope="row"] { background: #f6f6f6; font-weight: normal; white-space: nowrap; }
table.num td { white-space: nowrap; }
table.num td { text-align: right; } table.num td:first-of-type { text-align: left; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
code, .ids { font-family: ui-monospace, monospace; font-size: 0.92em; }
.ids { overflow-wrap: anywhere; margin: 0.2em 0 0.6em; }
.flag { border: 1px solid #D55E00; color: #8a3200; padding: 0 4px; font-size: 0.8em; }
figure { margin: 1em 0; } figcaption { font-weight: 600; margin-bottom: 0.3em; }
svg.chart { max-width: 100%; height: auto; display: block; }
.note { color: #444; } .prov td { overflow-wrap: anywhere; }
nav ol { columns: 3; }
@page { margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; background: #fff; color: #000; }
  nav { display: none; }
  section.brand, section.page { break-before: page; }
  figure, svg.chart, tr { break-inside: avoid; }
  h2, h3, h4 { break-after: avoid; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _value(value: float | int | None) -> str:
    """A number as the JSON report writes it (None: empty)."""
    return "" if value is None else repr(value)


def _duration(seconds: float | None) -> str:
    """Seconds as an auditor reads them: "45 s", "12 min", "1 h 30 min", "2 d 3 h"."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:g} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _nice_step(top: int, ticks: int = 4) -> int:
    """A round axis step (1, 2, 5 × 10^k) giving about `ticks` steps up to top."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor * ticks >= top:
                return step * factor
        step *= 10


def _brand_label(b: BrandReport) -> str:
    return b.display_name if b.display_name == b.brand else f"{b.display_name} ({b.brand})"


# -- charts -------------------------------------------------------------------------------------

class _Svg:
    """One chart: an <svg role="img"> with a title and a description, marks added in order."""

    def __init__(self, figure_id: str, chart: str, width: int, height: int, title: str,
                 desc: str) -> None:
        self.parts = [
            f'<svg class="chart" id="{_e(figure_id)}" data-chart="{_e(chart)}" '
            f'role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" aria-labelledby="{_e(figure_id)}-t '
            f'{_e(figure_id)}-d" style="{FONT}">',
            f'<title id="{_e(figure_id)}-t">{_e(title)}</title>',
            f'<desc id="{_e(figure_id)}-d">{_e(desc)}</desc>',
        ]

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def text(self, x: float, y: float, text: str, *, size: int = 11, anchor: str = "start",
             extra: str = "") -> None:
        self.parts.append(f'<text x="{x:g}" y="{y:g}" font-size="{size}" '
                          f'text-anchor="{anchor}"{extra}>{_e(text)}</text>')

    def mark(self, x: float, y: float, w: float, h: float, colour: str, *, brand: str,
             view: str, key: str, value: str, title: str, extra: str = "") -> None:
        self.parts.append(
            f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" '
            f'height="{max(h, 0):.1f}" fill="{colour}" data-brand="{_e(brand)}" '
            f'data-view="{_e(view)}" data-key="{_e(key)}" data-value="{_e(value)}"{extra}>'
            f'<title>{_e(title)}</title></rect>')

    def legend(self, x: float, y: float, items: Sequence[tuple[str, str]]) -> None:
        for label, colour in items:
            self.add(f'<rect x="{x:g}" y="{y - 9:g}" width="10" height="10" fill="{colour}"/>')
            self.text(x + 14, y, label)
            x += 24 + 6.5 * len(label)

    def done(self) -> str:
        return "".join(self.parts) + "</svg>"


def _share_chart(figure_id: str, brand: str, name: str, rows: Sequence[PeriodReport],
                 whole: tuple[ViewCounts, ViewCounts], by: str | None) -> str:
    """The ignored share per period, both views side by side (bars, 0–100%). Without periods
    one pair of bars: the whole range."""
    points: list[tuple[str, str, ViewCounts, ViewCounts]] = [
        (p.period, p.period, p.complaints, p.all_inbound) for p in rows]
    if by is None:
        points = [("*", "whole range", *whole)]
    group, bar, left, top, plot_h = 52, 18, 48, 30, 170
    width = max(360, left + group * len(points) + 20)
    height = top + plot_h + 70
    desc = ("Share of decided mentions that were ignored, per "
            + (f"{by} of the mentions' creation" if by else "the whole range (use --by for "
               "periods)") + f", complaints and all inbound, {name}. The table below gives "
            "the same numbers.")
    svg = _Svg(figure_id, "ignored-share", width, height,
               f"Ignored share per period: {name}", desc)
    svg.legend(left, 14, [("complaints", VIEW_COLOURS["complaints"]),
                          ("all inbound", VIEW_COLOURS["all_inbound"])])
    base = top + plot_h
    for pct in (0, 25, 50, 75, 100):
        y = base - plot_h * pct / 100
        svg.add(f'<line x1="{left}" x2="{width - 10}" y1="{y:g}" y2="{y:g}" stroke="#ccc"/>')
        svg.text(left - 4, y + 4, f"{pct}%", anchor="end")
    for i, (key, label, complaints, everything) in enumerate(points):
        x0 = left + i * group + 6
        for j, (view, view_name) in enumerate(VIEWS):
            v = complaints if view == "complaints" else everything
            x = x0 + j * (bar + 2)
            share = v.ignored_share
            # A share of 0 gets a hairline, so it is told apart from no share at all (—).
            h = 0.0 if share is None else max(plot_h * share, 1.5)
            title = (f"{label}, {view_name}: " + (
                "no decided mention" if share is None
                else f"{_share(share)} ignored ({v.ignored} of {v.decided} decided)"))
            svg.mark(x, base - h, bar, h, VIEW_COLOURS[view], brand=brand, view=view, key=key,
                     value=_value(share), title=title,
                     extra=f' data-ignored="{v.ignored}" data-decided="{v.decided}"')
            if share is None:
                svg.text(x + bar / 2, base - 3, "—", anchor="middle", size=10)
        cx = x0 + bar
        svg.text(cx, base + 14, label, anchor="end", size=10,
                 extra=f' transform="rotate(-35 {cx:g} {base + 14:g})"')
    if by is None:
        svg.text(left, height - 6, "Charts by period need --by day, week or month.", size=11)
    elif not points:
        svg.text(left + 8, base - plot_h / 2, "No period: no mention in this range.", size=12)
    return svg.done()


def _outcome_parts(v: ViewCounts) -> list[tuple[str, int]]:
    return [("answered", v.answered), ("answered_late", v.answered_late),
            ("ignored_unanswered", v.ignored - v.answered_late), ("open", v.open)]


def _outcomes_chart(figure_id: str, title: str, rows: Sequence[tuple[str, str, str,
                                                                     ViewCounts]]) -> str:
    """Answered in time, answered late, ignored (not answered), open: one bar per row (brand
    key, view, label), each as shares of the row's inbound mentions (the counts in titles)."""
    left, bar_w, row_h, top = 210, 520, 24, 30
    width = left + bar_w + 90
    height = top + row_h * max(len(rows), 1) + 10
    desc = ("Per row, the inbound mentions split into answered in time, answered late, "
            "ignored and not answered, and open, as shares of the row's inbound (n). "
            "Answered late mentions are also ignored: they passed the ignore deadline.")
    svg = _Svg(figure_id, "outcomes", width, height, title, desc)
    svg.legend(8, 14, [(label.split(" (")[0], colour) for _, label, colour in OUTCOMES])
    if not rows:
        svg.text(left, top + 16, "No brand in this report.")
    for i, (brand, view, label, v) in enumerate(rows):
        y = top + i * row_h
        svg.text(left - 6, y + 15, _short(label, 32), anchor="end",
                 extra=f' data-label-of="{_e(brand)}"')
        svg.add(f'<rect x="{left}" y="{y + 3}" width="{bar_w}" height="{row_h - 6}" '
                f'fill="none" stroke="#999"/>')
        x = float(left)
        for (key, count), (_, name, colour) in zip(_outcome_parts(v), OUTCOMES, strict=True):
            w = bar_w * count / v.inbound if v.inbound else 0.0
            share = f" ({count / v.inbound * 100:.1f}%)" if v.inbound else ""
            svg.mark(x, y + 3, w, row_h - 6, colour, brand=brand, view=view, key=key,
                     value=str(count), title=f"{label}: {count} {name}{share}")
            x += w
        svg.text(left + bar_w + 6, y + 15, f"n = {v.inbound}" if v.inbound else "no mention")
    return svg.done()


def _bucket_labels(sla_s: float | None) -> list[str]:
    """The buckets' names, with their bounds in time when there is one SLA."""
    labels = list(SLA_BUCKET_LABELS)
    if sla_s is None:
        return labels
    for i, (numerator, denominator) in enumerate(SLA_BUCKET_BOUNDS):
        labels[i] += f" (≤{_duration(sla_s * numerator / denominator)})"
    labels[-1] += f" (>{_duration(sla_s * 2)})"
    return labels


def _sla_chart(figure_id: str, brand: str, name: str, complaints: ViewCounts,
               everything: ViewCounts, sla_s: float | None) -> str:
    """The first response times against the SLA: a histogram of both views over the buckets of
    SLA_BUCKET_KEYS, the SLA marked between "≤100%" and "≤200%"."""
    left, top, plot_h, group, bar = 48, 30, 160, 120, 40
    width = left + group * len(SLA_BUCKET_KEYS) + 20
    height = top + plot_h + 44
    counts = {"complaints": complaints.first_response_vs_sla,
              "all_inbound": everything.first_response_vs_sla}
    highest = max([*counts["complaints"], *counts["all_inbound"], 1])
    step = _nice_step(highest)
    scale_top = step * -(-highest // step)
    sla_text = "each brand's SLA" if sla_s is None else f"the SLA ({_duration(sla_s)})"
    desc = (f"How many first responses (answered and answered late, in the SLA's clock) took at "
            f"most 25%, 50%, 100%, 200% of {sla_text} or longer, complaints and all inbound, "
            f"{name}. The table below gives the same numbers.")
    svg = _Svg(figure_id, "sla-histogram", width, height,
               f"First response times against the SLA: {name}", desc)
    svg.legend(left, 14, [("complaints", VIEW_COLOURS["complaints"]),
                          ("all inbound", VIEW_COLOURS["all_inbound"])])
    base = top + plot_h
    tick = 0
    while tick <= scale_top:
        y = base - plot_h * tick / scale_top
        svg.add(f'<line x1="{left}" x2="{width - 10}" y1="{y:g}" y2="{y:g}" stroke="#ccc"/>')
        svg.text(left - 4, y + 4, str(tick), anchor="end")
        tick += step
    labels = _bucket_labels(sla_s)
    for i, key in enumerate(SLA_BUCKET_KEYS):
        x0 = left + i * group + (group - 2 * bar - 4) / 2
        for j, (view, view_name) in enumerate(VIEWS):
            n = counts[view][i]
            h = plot_h * n / scale_top
            x = x0 + j * (bar + 4)
            svg.mark(x, base - h, bar, h, VIEW_COLOURS[view], brand=brand,
                     view=view, key=key, value=str(n),
                     title=f"{view_name}: {n} first responses {labels[i]} of the SLA")
            svg.text(x + bar / 2, base - h - 3, str(n), anchor="middle", size=10)
        svg.text(left + i * group + group / 2, base + 16, labels[i], anchor="middle", size=10)
    x = left + 3 * group  # between "≤100%" and "≤200%": the SLA itself
    svg.add(f'<line class="sla" x1="{x}" x2="{x}" y1="{top - 4}" y2="{base}" stroke="#000" '
            f'stroke-width="1.5" stroke-dasharray="5 3"/>')
    svg.text(x + 4, top + 6, "SLA" if sla_s is None else f"SLA {_duration(sla_s)}", size=11)
    return svg.done()


# -- tables -------------------------------------------------------------------------------------

_FIGURE_HEAD = ("<tr><th>{first}</th><th>view</th><th>inbound</th><th>answered</th>"
                "<th>answered late</th><th>ignored</th><th>open</th><th>overdue</th>"
                "<th>decided</th><th>ignored share</th><th>first response median</th>"
                "<th>p90</th></tr>")


def _figure_row(first: str | None, view: str, v: ViewCounts) -> str:
    """A row of figures; first: the label cell spanning this row and the next (None: spanned
    by the row above)."""
    cells = [v.inbound, v.answered, v.answered_late, v.ignored, v.open, v.overdue, v.decided]
    numbers = "".join(f"<td>{n}</td>" for n in cells)
    label = "" if first is None else f'<th rowspan="2" scope="row">{first}</th>'
    return (f"<tr>{label}<td>{view}</td>{numbers}<td>{_share(v.ignored_share)}</td>"
            f"<td>{_duration(v.first_response_median_s)}</td>"
            f"<td>{_duration(v.first_response_p90_s)}</td></tr>")


def _figure_table(first: str, rows: Iterable[tuple[str, ViewCounts, ViewCounts]],
                  caption: str = "") -> str:
    out = ['<table class="num">', f"<caption>{_e(caption)}</caption>" if caption else "",
           _FIGURE_HEAD.format(first=_e(first))]
    for label, complaints, everything in rows:
        out.append(_figure_row(label, "complaints", complaints))
        out.append(_figure_row(None, "all inbound", everything))
    out.append("</table>")
    return "".join(out)


def _sla_table(complaints: ViewCounts, everything: ViewCounts, sla_s: float | None) -> str:
    head = "".join(f"<th>{_e(label)}</th>" for label in _bucket_labels(sla_s))
    rows = "".join(
        f"<tr><td>{view_name}</td>"
        + "".join(f"<td>{n}</td>" for n in v.first_response_vs_sla) + "</tr>"
        for (_, view_name), v in zip(VIEWS, (complaints, everything), strict=True))
    return f'<table class="num"><tr><th>view</th>{head}</tr>{rows}</table>'


def _periods_table(by: str | None, rows: Sequence[PeriodReport],
                   whole: tuple[ViewCounts, ViewCounts]) -> str:
    """The ignored share chart's table: the figures per period (the periods in which the brand
    had no inbound mention are left out, said below), or of the whole range without --by."""
    if by is None:
        return _figure_table("range", [("whole range", *whole)])
    shown = [p for p in rows if p.all_inbound.inbound]
    table = _figure_table(by, [(_e(p.period), p.complaints, p.all_inbound) for p in shown])
    left_out = len(rows) - len(shown)
    if left_out:
        table += (f'<p class="note">{left_out} of the report\'s {len(rows)} periods had no '
                  "inbound mention here and are left out of the table (the chart shows them "
                  "as —).</p>")
    return table


# -- the page -----------------------------------------------------------------------------------

def _get(tree: dict[str, Any] | None, *path: str) -> Any:
    """A value deep in the provenance, None where the path doesn't exist."""
    node: Any = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _facts(report: AuditReport) -> str:
    prov = report.provenance
    facts: list[tuple[str, str]] = [
        ("Range (event time)", f"{iso_ms(report.range_from_ms) or 'start'} (inclusive) – "
                               f"{iso_ms(report.range_to_ms) or 'end'} (exclusive)"),
        ("Watermark (judged at)", iso_ms(report.watermark_ms) or "none (no records)"),
        ("Brands", report.brand_filter or "all"),
        ("Periods", f"by {report.by} of the mentions' creation (UTC)" if report.by
         else "none (whole range; --by day, week or month gives periods)"),
    ]
    version = _get(prov, "mentionwatch_version")
    if version is not None:
        facts.append(("Generated by", f"mentionwatch {version}"))
    source, topic = _get(prov, "source"), _get(prov, "topic")
    if source is not None or topic is not None:
        facts.append(("Source", " ".join(str(x) for x in (source, topic) if x is not None)))
    read, in_range = _get(prov, "records", "read"), _get(prov, "records", "in_range")
    if read is not None:
        facts.append(("Records", f"{read} read" + (f", {in_range} in range"
                                                    if in_range is not None else "")))
    classifier = _get(prov, "classifier", "name")
    if classifier is not None:
        facts.append(("Classifier", str(classifier)))
    origin = _get(prov, "brand_configuration", "from")
    configuration = _get(prov, "brand_configuration", "sha256")
    if origin is not None or configuration is not None:
        facts.append(("Brand configuration", "; ".join(
            str(x) for x in (origin, configuration and f"sha256 {configuration}") if x)))
    facts.append(("Answered ids", "listed" if report.with_answered_ids
                  else "not listed (--with-answered-ids lists them)"))
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


def _provenance(report: AuditReport) -> str:
    pairs = flatten_provenance(report.provenance)
    if not pairs:
        return '<p class="note">This report carries no provenance block.</p>'
    rows = "".join(f"<tr><td><code>{_e(k)}</code></td><td>{_e(v) if v else '—'}</td></tr>"
                   for k, v in pairs)
    return f'<table class="prov"><tr><th>key</th><th>value</th></tr>{rows}</table>'


def _ids(b: BrandReport) -> str:
    out = []
    for p in b.platforms:
        for view, view_name in VIEWS:
            v = p.complaints if view == "complaints" else p.all_inbound
            lists = [("Ignored", v.ignored_ids), ("Answered late (also ignored)",
                                                   v.answered_late_ids),
                     ("Open", v.open_ids)]
            if v.answered_ids is not None:
                lists.append(("Answered in time", v.answered_ids))
            shown = [(name, ids) for name, ids in lists if ids]
            if not shown:
                continue
            out.append(f"<h4>{_e(p.platform)}, {view_name}</h4>")
            for name, ids in shown:
                codes = " ".join(f"<code>{_e(i)}</code>" for i in ids)
                out.append(f'<p class="ids" data-ids="{_e(name)}"><strong>{name} '
                           f"({len(ids)}):</strong> {codes}</p>")
    if not out:
        return ('<p class="note">No ignored, answered-late or open mention'
                + ("" if b.platforms else " (no mention of this brand in the range)") + "."
                + ("" if any(p.all_inbound.answered_ids is not None for p in b.platforms)
                   else " Answered ids are listed with --with-answered-ids.") + "</p>")
    return "".join(out)


def _parameters(b: BrandReport) -> str:
    text = (f"SLA {_duration(b.sla_s)} ({b.sla_s:g} s), ignore deadline "
            f"{_duration(b.ignore_after_s)} ({b.ignore_after_s:g} s); warned "
            f"{_duration(b.due_soon_s)} before the SLA and {_duration(b.ignore_soon_s)} before "
            "the ignore deadline")
    if b.business_hours:
        text += f"; business hours ({b.timezone})"
        if b.hours is not None:
            text += f": {b.hours}"
        if b.holidays:
            text += f"; holidays {', '.join(b.holidays)}"
    else:
        text += "; around the clock"
    return f"<p>{_e(text)}.</p>"


def _reach(b: BrandReport) -> str:
    items = "".join(
        f"<li>Ignored {label}: {v.reach_authors} distinct authors, {v.reach_authors_known} "
        f"with a known follower count, {v.reach_followers} followers in all.</li>"
        for label, v in (("complaints", b.complaints), ("inbound mentions", b.all_inbound)))
    return f"<ul>{items}</ul>"


def _brand_section(index: int, b: BrandReport, report: AuditReport) -> str:
    name = _brand_label(b)
    flag = ("" if b.configured else
            ' <span class="flag">unconfigured: default SLA and deadline</span>')
    fig = f"b{index}"
    parts = [f'<section class="brand" id="brand-{index}" data-brand="{_e(b.brand)}">',
             f"<h2>{_e(b.display_name)} <code>{_e(b.brand)}</code>{flag}</h2>",
             _parameters(b),
             _figure_table("platform", [(_e(p.platform), p.complaints, p.all_inbound)
                                        for p in b.platforms]
                           + [("<strong>all platforms</strong>", b.complaints, b.all_inbound)]),
             "<h3>Reach of the ignored mentions</h3>", _reach(b)]
    parts += [
        "<figure><figcaption>"
        + (f"Per {_e(report.by)}: ignored share" if report.by else "Ignored share")
        + "</figcaption>",
        _share_chart(f"{fig}-share", b.brand, name, b.periods, (b.complaints, b.all_inbound),
                     report.by),
        _periods_table(report.by, b.periods, (b.complaints, b.all_inbound)), "</figure>",
        "<figure><figcaption>Answered, answered late, ignored, open</figcaption>",
        _outcomes_chart(f"{fig}-outcomes", f"Outcomes of the inbound mentions: {name}",
                        [(b.brand, "complaints", "complaints", b.complaints),
                         (b.brand, "all_inbound", "all inbound", b.all_inbound)]),
        '<p class="note">The table above gives these numbers (ignored, not answered = '
        "ignored − answered late).</p></figure>",
        "<figure><figcaption>First response times against the SLA</figcaption>",
        _sla_chart(f"{fig}-sla", b.brand, name, b.complaints, b.all_inbound, b.sla_s),
        _sla_table(b.complaints, b.all_inbound, b.sla_s), "</figure>",
        "<h3>Mentions by id</h3>", _ids(b), "</section>"]
    return "".join(parts)


def render_html(report: AuditReport) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    title = (f"mentionwatch audit {iso_ms(report.range_from_ms) or 'start'} – "
             f"{iso_ms(report.range_to_ms) or 'end'}")
    brands = report.brands
    nav = "".join(f'<li><a href="#brand-{i}">{_e(_brand_label(b))}</a></li>'
                  for i, b in enumerate(brands, 1))
    summary_rows = [("<strong>all brands</strong>", report.complaints, report.all_inbound)]
    summary_rows += [(f'<a href="#brand-{i}">{_e(_brand_label(b))}</a>'
                      + ("" if b.configured else '<br><span class="flag">unconfigured</span>'),
                      b.complaints, b.all_inbound) for i, b in enumerate(brands, 1)]
    outcome_rows = [("*", view, f"all brands, {view_name}",
                     report.complaints if view == "complaints" else report.all_inbound)
                    for view, view_name in VIEWS]
    for view, view_name in VIEWS:
        outcome_rows += [(b.brand, view, f"{_brand_label(b)}, {view_name}",
                          b.complaints if view == "complaints" else b.all_inbound)
                         for b in brands]
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        # The page needs nothing from anywhere: the browser is told to fetch nothing at all.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{_e(title)}</h1>", _facts(report), "</header>",
        '<p class="note">"Ignored" includes the mentions answered after the ignore deadline '
        '(also counted as "answered late"); ignored share = ignored / decided, "—" when '
        "nothing is decided. First response times (median, p90) are calendar time, from the "
        "mention to the first brand post answering it, for answered and answered-late "
        "mentions; against the SLA each is counted in the SLA's own clock (business time for "
        "brands with business hours) and against the SLA in force when the mention was "
        "made.</p>",
        f'<nav><h2>Brands</h2><ol>{nav}</ol></nav>' if brands else "",
        "<section id=\"summary\"><h2>Summary</h2>",
        "<figure><figcaption>"
        + (f"All brands per {_e(report.by)}: ignored share" if report.by
           else "Ignored share, all brands") + "</figcaption>",
        _share_chart("all-share", "*", "all brands", report.periods,
                     (report.complaints, report.all_inbound), report.by),
        _periods_table(report.by, report.periods, (report.complaints, report.all_inbound)),
        "</figure>",
        "<figure><figcaption>First response times against the SLA, all brands (each "
        "against its own brand's SLA)</figcaption>",
        _sla_chart("all-sla", "*", "all brands", report.complaints, report.all_inbound, None),
        _sla_table(report.complaints, report.all_inbound, None), "</figure>",
        _figure_table("brand", summary_rows, "Every brand, both views"),
        "" if brands else '<p class="note">No brand in this report.</p>',
        "<figure><figcaption>Answered, answered late, ignored, open per brand</figcaption>",
        _outcomes_chart("all-outcomes", "Outcomes of the inbound mentions per brand",
                        outcome_rows),
        '<p class="note">The summary table gives these numbers (ignored, not answered = '
        "ignored − answered late).</p></figure>",
    ]
    parts.append("</section>")
    parts += [_brand_section(i, b, report) for i, b in enumerate(brands, 1)]
    parts += ['<section id="provenance" class="page"><h2>Provenance</h2>',
              '<p class="note">Where the figures come from: everything needed to trace them '
              "back to the records (docs/how-to/audit-a-period.md, Provenance).</p>",
              _provenance(report), "</section></body></html>\n"]
    return "".join(parts)
