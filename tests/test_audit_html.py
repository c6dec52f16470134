"""The HTML audit report (pure): the charts draw the JSON report's numbers, customer text is
escaped, the page is self-contained and printable; and the first response times against the
SLA that the histogram draws, in the core report and every format."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import orjson
import pytest
from audit_html_marks import SLA_KEYS, expected_marks, marks_of_html

from streams.audit import AuditReport, build_report, render_report, sla_buckets
from streams.brands import BrandConfig, BrandPolicy
from streams.tracking import ItemStatus

S, MIN, H, DAY = 1000, 60_000, 3_600_000, 86_400_000


def ms(value: str) -> int:
    return int(datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp() * 1000)


T0 = ms("2026-10-05T08:00:00")  # a Monday: weeks 2026-W41 and 2026-W42 below
EVIL = '<script>alert("brand")</script>&co'
EVIL_NAME = 'Café "Quote" & <b>bold</b>'
EVIL_PLATFORM = "<i>plat</i>"
EVIL_IDS = ('<img src=x onerror=alert(1)>', '"quoted"&amp;')
CONFIG = BrandConfig(brands={
    EVIL: BrandPolicy(EVIL, EVIL_NAME, frozenset({"evil_help"}), sla_ms=1800 * S),
    "acme": BrandPolicy("acme", "Acme"),  # the default SLA, 1 h
    "quiet": BrandPolicy("quiet", "Quiet"),  # configured, no mention
})


def item(mid: str, status: str, *, brand: str = EVIL, platform: str = "twitter",
         complaint: bool = True, late: bool = False, response_s: int | None = None,
         created: int = T0, overdue: bool = False) -> ItemStatus:
    return ItemStatus(
        mention_id=mid, brand=brand, platform=platform, complaint=complaint,
        created_at_ms=created, status=status,  # type: ignore[arg-type]
        overdue=overdue, answered_late=late,
        first_response_ms=None if response_s is None else response_s * S,
        decided_at_ms=None if status == "open" else created + 1, author_key=f"twitter:{mid}")


ITEMS = [
    # The evil brand's SLA is 1800 s: 25% is 450 s, 50% 900 s, 200% 3600 s.
    item("1", "answered", response_s=450),  # ≤25%, the bound included
    item("2", "answered", response_s=451),  # ≤50%
    item("3", "answered", response_s=1800, complaint=False),  # ≤100%
    item("4", "answered", response_s=3600),  # ≤200%
    item("5", "answered", response_s=3601, created=T0 + 7 * DAY),  # >200%, the next week
    item("6", "ignored", late=True, response_s=100_000, created=T0 + 7 * DAY),  # >200%
    item("7", "ignored", created=T0 + 7 * DAY),
    item(EVIL_IDS[0], "ignored", platform=EVIL_PLATFORM),
    item(EVIL_IDS[1], "open", platform=EVIL_PLATFORM, overdue=True),
    # acme, SLA 3600 s: 900 s is ≤25%, 901 s ≤50%.
    item("20", "answered", brand="acme", response_s=900),
    item("21", "answered", brand="acme", response_s=901, complaint=False),
    item("22", "ignored", brand="acme", created=T0 + 7 * DAY),
    item("23", "open", brand="acme", complaint=False, created=T0 + 8 * DAY),
]
PROVENANCE = {"mentionwatch_version": "9.9.9", "source": "raw", "topic": "mentions.raw",
              "records": {"read": 15, "in_range": 13},
              "classifier": {"name": "lexicon", "model_sha256": None},
              "configuration": {"versions": [{"version": 3, "from": "2026-10-01T00:00:00Z"}]},
              "docs": "https://example.org/docs/auditing.md",
              "note": '<script>alert("prov")</script>'}


def report(by: str | None = "week", items: list[ItemStatus] = ITEMS,
           config: BrandConfig = CONFIG, **kw: Any) -> AuditReport:
    return build_report(items, config, range_from_ms=T0 - DAY, range_to_ms=T0 + 14 * DAY,
                        watermark_ms=T0 + 9 * DAY, brand_filter=None, by=by,
                        provenance=PROVENANCE, **kw)


def as_json(r: AuditReport) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(render_report(r, "json"))
    return doc


# -- first responses against the SLA (the histogram's numbers, in the core report) ------------

def test_sla_buckets_include_their_bound() -> None:
    sla = 1800 * S
    assert sla_buckets([], sla) == (0, 0, 0, 0, 0)
    assert sla_buckets(sorted([0, 450_000, 450_001, 900_000, 900_001, 1_800_000, 1_800_001,
                               3_600_000, 3_600_001]), sla) == (2, 2, 2, 2, 1)


def test_buckets_per_brand_view_and_period_in_json() -> None:
    doc = as_json(report())
    brands = {b["brand"]: b for b in doc["brands"]}
    evil = brands[EVIL]["totals"]
    assert evil["complaints"]["first_response_vs_sla"] == {
        "le_25pct": 1, "le_50pct": 1, "le_100pct": 0, "le_200pct": 1, "gt_200pct": 2}
    assert evil["all_inbound"]["first_response_vs_sla"]["le_100pct"] == 1
    acme = brands["acme"]["totals"]["all_inbound"]["first_response_vs_sla"]
    assert (acme["le_25pct"], acme["le_50pct"]) == (1, 1)  # against acme's own SLA
    for entry in (doc, *doc["brands"]):
        for view in ("complaints", "all_inbound"):
            v = entry["totals"][view]
            # Every first response in one bucket: answered and answered late.
            assert sum(v["first_response_vs_sla"].values()) == v["answered"] + v["answered_late"]
            for key in SLA_KEYS:
                assert sum(p[view]["first_response_vs_sla"][key] for p in entry["periods"]) == \
                    v["first_response_vs_sla"][key], (entry.get("brand"), view, key)
    # All brands: each response against its own brand's SLA, summed.
    for view in ("complaints", "all_inbound"):
        for key in SLA_KEYS:
            assert doc["totals"][view]["first_response_vs_sla"][key] == sum(
                b["totals"][view]["first_response_vs_sla"][key] for b in doc["brands"])
    assert doc["totals"]["all_inbound"]["first_response_vs_sla"]["le_25pct"] == 2


def test_buckets_in_csv_and_markdown() -> None:
    r = report(by=None)
    rows = list(csv.DictReader(io.StringIO(render_report(r, "csv"))))
    row = next(x for x in rows if x["brand"] == EVIL and x["platform"] == "*"
               and x["view"] == "complaints")
    assert [row[f"first_response_sla_{k}"] for k in SLA_KEYS] == ["1", "1", "0", "1", "2"]
    md = render_report(r, "md")
    assert "- First responses to complaints against the SLA: ≤25% 1, ≤50% 1, ≤100% 0, " \
           "≤200% 1, >200% 2." in md


# -- the page ----------------------------------------------------------------------------------

class _Page(HTMLParser):
    """Tags, attributes and the text of <code> elements, as a browser's parser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.codes: list[str] = []
        self._in_code = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_code = tag == "code"
        if tag == "code":
            self.codes.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_code:
            self.codes[-1] += data


def parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    return parsed


@pytest.mark.parametrize("by", [None, "week", "day"])
def test_chart_numbers_equal_the_json_report(by: str | None) -> None:
    r = report(by=by)
    page = render_report(r, "html")
    drawn = marks_of_html(page)
    expected = expected_marks(as_json(r))
    assert drawn == expected
    # Not trivially so: every chart of every brand, with real numbers in it.
    assert {chart for chart, *_ in drawn} == {"ignored-share", "outcomes", "sla-histogram"}
    assert {brand for _, brand, *_ in drawn} == {"*", EVIL, "acme", "quiet"}
    assert drawn[("sla-histogram", EVIL, "complaints", "gt_200pct")] == 2
    assert drawn[("outcomes", EVIL, "all_inbound", "ignored_unanswered")] == 2  # 7 and img
    if by == "week":
        assert drawn[("ignored-share", EVIL, "all_inbound", "2026-W42")] == pytest.approx(2 / 3)
        assert drawn[("ignored-share", "quiet", "complaints", "2026-W41")] is None
    if by is None:
        assert "Charts by period need --by day, week or month." in page


def test_structure() -> None:
    page = render_report(report(), "html")
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">") and page.endswith("</html>\n")
    parsed = parse(page)
    tags = [t for t, _ in parsed.tags]
    sections = [a.get("data-brand") for t, a in parsed.tags if t == "section"
                and "brand" in a.get("class", "")]
    assert sections == [EVIL, "acme", "quiet"]  # the report's (case-insensitive) order
    # Every chart: a title and a description it is labelled by, and a table beside it.
    charts = [a for t, a in parsed.tags if t == "svg"]
    assert len(charts) == 3 * 4  # three charts, all brands and each of the three brands
    for svg in charts:
        assert svg["role"] == "img"
        assert svg["aria-labelledby"] == f"{svg['id']}-t {svg['id']}-d"
    marks = [a for t, a in parsed.tags if t == "rect" and a.get("class") == "mark"]
    assert tags.count("title") == 1 + len(charts) + len(marks)  # the page's, and each mark's
    assert tags.count("desc") == len(charts)
    assert tags.count("figure") == len(charts) and tags.count("table") > len(charts)
    text = "".join(parsed.text)
    assert "mentionwatch audit 2026-10-04T08:00:00.000Z – 2026-10-19T08:00:00.000Z" in text
    assert "2026-10-14T08:00:00.000Z" in text  # the watermark
    assert "mentionwatch 9.9.9" in text  # generation facts from the provenance, no clock
    assert "Ignored (1):" in text and "Open (1):" in text
    # The provenance in full, new keys included, without code knowing them.
    codes = parsed.codes
    for key in ("records.read", "classifier.model_sha256", "configuration.versions.0.version",
                "configuration.versions.0.from", "note"):
        assert key in codes, key


def test_customer_text_is_escaped() -> None:
    page = render_report(report(), "html")
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<b>" not in lowered
    assert "<i>plat" not in lowered
    assert "&lt;script&gt;alert(&quot;brand&quot;)&lt;/script&gt;&amp;co" in page
    parsed = parse(page)
    # Read back by a parser, every text is what the records said, exactly.
    assert EVIL in parsed.codes and EVIL_PLATFORM not in parsed.codes
    for mention_id in EVIL_IDS:
        assert mention_id in parsed.codes
    assert any(a.get("data-brand") == EVIL for t, a in parsed.tags if t == "rect")
    assert f"{EVIL_NAME} " in "".join(parsed.text)
    assert f"{EVIL_PLATFORM}, complaints" in "".join(parsed.text)
    assert '<script>alert("prov")</script>' in "".join(parsed.text)


def test_the_page_is_self_contained_and_printable() -> None:
    page = render_report(report(), "html")
    lowered = page.lower()
    for banned in ("<link", "<script", "<img", "<iframe", "<object", "<embed", "@import",
                   "url(", "<base"):
        assert banned not in lowered, banned  # (customer text is escaped: "&lt;img")
    # As a browser parses it: nothing that loads anything, links only within the page.
    loading = {"link", "script", "img", "iframe", "object", "embed", "base", "audio", "video",
               "source", "image", "use", "form", "style", "meta"}
    tags = parse(page).tags
    assert [t for t, _ in tags if t in loading] == ["meta", "meta", "meta", "style"]
    for _, attrs in tags:
        assert not set(attrs) & {"src", "srcset", "xlink:href", "action", "poster",
                                 "background"}, attrs
        assert "url(" not in attrs.get("style", "")
    hrefs = [a["href"] for _, a in tags if "href" in a]
    assert hrefs and all(h.startswith("#brand-") for h in hrefs)
    # The only web address is the provenance's text, in a table cell, not an attribute.
    prov = page.index('<section id="provenance"')
    assert not re.search(r"https?://", page[:prov])
    assert re.findall(r"https?://[^<\s]*", page[prov:]) == ["https://example.org/docs/auditing.md"]
    assert "<td>https://example.org/docs/auditing.md</td>" in page
    # The browser is told to fetch nothing and run nothing.
    assert ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'") in page
    # Printable: page breaks between brands, no dark backgrounds.
    style = page[page.index("<style>"):page.index("</style>")]
    assert "@media print" in style and "section.brand, section.page { break-before: page; }" \
        in style and "break-inside: avoid" in style
    for colour in re.findall(r"background:\s*#([0-9a-fA-F]{3,6})", style):
        full = "".join(c * 2 for c in colour) if len(colour) == 3 else colour
        r, g, b = (int(full[i:i + 2], 16) for i in (0, 2, 4))
        assert 0.2126 * r + 0.7152 * g + 0.0722 * b > 200, colour  # light
    assert "color-scheme: light" in style


@pytest.mark.parametrize("by", [None, "week"])
def test_an_empty_report_renders_sensibly(by: str | None) -> None:
    for config in (BrandConfig(brands={}), CONFIG):
        r = report(by=by, items=[], config=config)
        page = render_report(r, "html")
        assert marks_of_html(page) == expected_marks(as_json(r))
        text = "".join(parse(page).text)
        if not config.brands:
            assert "No brand in this report." in text
        if by is None:
            assert "Charts by period need --by" in text
            assert "no decided mention" in page  # the titles of the empty shares
        else:
            assert "No period: no mention in this range." in text
    # No provenance at all: said, not an error.
    bare = build_report([], BrandConfig(brands={}), range_from_ms=None, range_to_ms=None,
                        watermark_ms=None, brand_filter=None)
    page = render_report(bare, "html")
    assert "This report carries no provenance block." in page
    assert "mentionwatch audit start – end" in page and "none (no records)" in page


def test_answered_ids_are_listed_when_asked() -> None:
    text = "".join(parse(render_report(report(answered_ids=True), "html")).text)
    assert "Answered in time (" in text
    assert "Answered in time (" not in "".join(parse(render_report(report(), "html")).text)


def test_byte_identical() -> None:
    shuffled = list(reversed(ITEMS))
    assert render_report(report(items=shuffled), "html") == render_report(report(), "html")
