"""The numbers an HTML audit report draws, read back from its SVG marks, and the numbers the
JSON report of the same replay says they must be (for tests/test_audit_html*.py)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

# (chart, brand, view, key) → value; brand "*" is all brands, value None: no share.
Marks = dict[tuple[str, str, str, str], float | None]

SLA_KEYS = ("le_25pct", "le_50pct", "le_100pct", "le_200pct", "gt_200pct")
VIEWS = ("complaints", "all_inbound")


def mark_value(text: str) -> float | None:
    return None if text == "" else float(text)


def collect(rows: list[dict[str, str]]) -> Marks:
    """Marks as read from the page (one dict of attributes per mark, with the chart of its
    <svg>): the same mark drawn twice (a brand in the overview and in its section) must carry
    the same number."""
    marks: Marks = {}
    for row in rows:
        key = (row["chart"], row["data-brand"], row["data-view"], row["data-key"])
        value = mark_value(row["data-value"])
        assert marks.get(key, value) == value, (key, marks[key], value)
        marks[key] = value
    return marks


class _MarkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chart: str | None = None
        self.rows: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "svg":
            self.chart = found.get("data-chart")
        elif "data-value" in found:
            assert self.chart is not None, f"a mark outside a chart: {found}"
            self.rows.append({"chart": self.chart, **found})

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.chart = None


def marks_of_html(page: str) -> Marks:
    parser = _MarkParser()
    parser.feed(page)
    parser.close()
    return collect(parser.rows)


def expected_marks(doc: dict[str, Any]) -> Marks:
    """What the charts must draw, from the JSON report: the ignored share per period (the
    whole range as "*" without --by), the outcomes and the first responses against the SLA, of
    all brands ("*") and of every brand."""
    out: Marks = {}
    entries = [("*", doc)] + [(b["brand"], b) for b in doc["brands"]]
    for brand, entry in entries:
        totals = entry["totals"]
        for view in VIEWS:
            if doc["by"] is None:
                out[("ignored-share", brand, view, "*")] = totals[view]["ignored_share"]
            else:
                for p in entry["periods"]:
                    out[("ignored-share", brand, view, p["period"])] = p[view]["ignored_share"]
            v = totals[view]
            for key, n in (("answered", v["answered"]), ("answered_late", v["answered_late"]),
                           ("ignored_unanswered", v["ignored"] - v["answered_late"]),
                           ("open", v["open"])):
                out[("outcomes", brand, view, key)] = n
            for key in SLA_KEYS:
                out[("sla-histogram", brand, view, key)] = v["first_response_vs_sla"][key]
    return out
