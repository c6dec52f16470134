"""The HTML audit report of a real replay over the real broker, opened in a real browser
(Debian's headless Chromium over the DevTools protocol): it renders with no console error, no
exception and no network request at all, the numbers its charts draw (read from the DOM) are the
JSON report's of the same replay, customer text stays text, and it prints to PDF with a page
per brand. A screenshot and the PDF are saved as test artefacts (paths printed;
MENTIONWATCH_ARTIFACTS chooses the directory)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from audit_html_marks import collect, expected_marks
from cdp import Browser
from conftest import REPO, Stack
from twcs_reference import twcs_head_path

pytestmark = pytest.mark.kafka

# Mention ids are free text on the wire (mention.v1): an audit lists them.
PAYLOAD_IDS = ["<img src=x onerror=alert(1)>", '"><script>alert(2)</script>']
MARKS = """Array.from(document.querySelectorAll('svg.chart [data-value]')).map(e => ({
  chart: e.closest('svg').dataset.chart, 'data-brand': e.dataset.brand,
  'data-view': e.dataset.view, 'data-key': e.dataset.key, 'data-value': e.dataset.value}))"""


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **stack.env}, cwd=REPO, timeout=300)


def _payload_mentions(path: Path) -> Path:
    """Two inbound mentions nobody answers, inside the TWCS excerpt's weeks."""
    lines = [{"schema_version": 1, "id": mention_id, "platform": "twitter",
              "brand": "AppleSupport",
              "author": {"id": f"x{i}", "handle": f"<b>h{i}</b>", "is_brand": False},
              "text": "my phone is broken and nobody answers", "lang": "en",
              "created_at": f"2017-11-0{i + 1}T10:00:00Z"}
             for i, mention_id in enumerate(PAYLOAD_IDS)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_the_html_report_in_a_browser(stack: Stack, tmp_path: Path) -> None:
    started = time.monotonic()
    artifacts = Path(os.environ.get("MENTIONWATCH_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot, pdf_path = artifacts / "audit-report.png", artifacts / "audit-report.pdf"
    out = _cli(stack, "ingest", str(twcs_head_path()), "--format", "twcs", "--no-progress")
    assert out.returncode in (0, 1), out.stderr  # 1: the excerpt's unattributed rows
    out = _cli(stack, "ingest", str(_payload_mentions(tmp_path / "payloads.jsonl")))
    assert out.returncode == 0, out.stderr
    page, report = tmp_path / "audit.html", tmp_path / "audit.json"
    for fmt, path in (("html", page), ("json", report)):
        rep = _cli(stack, "replay", "--from", "2016-01-01", "--to", "2018-01-01", "--by", "week",
                   "--format", fmt, "--output", str(path), "--no-progress")
        assert rep.returncode == 0, rep.stderr
    doc = orjson.loads(report.read_bytes())
    assert doc["totals"]["all_inbound"]["inbound"] > 2000 and len(doc["periods"]) > 5
    url = page.resolve().as_uri()

    async def scenario() -> tuple[list[dict[str, Any]], dict[str, Any], bytes,
                                  list[dict[str, Any]]]:
        browser = Browser(tmp_path / "chromium")
        try:
            await browser.start()
            for domain in ("Page", "Runtime", "Network", "Log"):
                await browser.call(f"{domain}.enable")
            await browser.call("Emulation.setDeviceMetricsOverride", width=1200, height=900,
                               deviceScaleFactor=1, mobile=False)
            await browser.call("Page.navigate", url=url)
            await browser.wait_for("the report loads", "document.readyState === 'complete' && "
                                   "document.querySelectorAll('svg.chart').length > 0")
            await asyncio.sleep(0.5)  # anything the page would fetch or log after load
            marks = await browser.evaluate(MARKS)
            seen = await browser.evaluate("""({
              title: document.title,
              codes: Array.from(document.querySelectorAll('code')).map(c => c.textContent),
              loaders: document.querySelectorAll('script, img, link, iframe, object').length,
              charts: document.querySelectorAll('svg.chart').length,
              brands: document.querySelectorAll('section.brand').length,
              chartsInView: Array.from(document.querySelectorAll('svg.chart')).filter(
                s => s.getBoundingClientRect().width > 300).length})""")
            # The top of the page (a whole-page capture of ~80 brands exceeds its limit).
            capture = await browser.call("Page.captureScreenshot", format="png",
                                         captureBeyondViewport=True,
                                         clip={"x": 0, "y": 0, "width": 1200, "height": 2600,
                                               "scale": 1})
            shot.write_bytes(base64.b64decode(capture["data"]))
            printed = await browser.call("Page.printToPDF", printBackground=False,
                                         preferCSSPageSize=True)
            return marks, seen, base64.b64decode(printed["data"]), list(browser.events)
        finally:
            await browser.close()

    marks, seen, pdf, events = asyncio.run(scenario())
    print(f"\naudit report screenshot: {shot}")
    pdf_path.write_bytes(pdf)
    print(f"audit report printed: {pdf_path} ({len(pdf) // 1024} KiB)")
    assert shot.stat().st_size > 20_000
    # No request but the file itself; no exception, console message, log entry or dialog.
    requests = [e["params"]["request"]["url"] for e in events
                if e["method"] == "Network.requestWillBeSent"]
    assert requests == [url]
    complaints = [e for e in events if e["method"] in (
        "Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded",
        "Page.javascriptDialogOpening", "Network.loadingFailed")]
    assert complaints == []
    # The numbers drawn are the JSON report's, every one of them, for every brand.
    assert collect(marks) == expected_marks(doc)
    assert seen["charts"] == 3 * (1 + len(doc["brands"])) == seen["chartsInView"]
    assert seen["brands"] == len(doc["brands"])
    assert seen["title"].startswith("mentionwatch audit 2016-01-01T00:00:00.000Z")
    # Customer text is text: the payload ids are listed as they are, and nothing loads.
    assert seen["loaders"] == 0
    for mention_id in PAYLOAD_IDS:
        assert mention_id in seen["codes"]
    # Printable: a real PDF, a page break before every brand's section.
    assert pdf.startswith(b"%PDF-") and len(pdf) > 50_000
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages > len(doc["brands"]), pages
    print(f"{len(marks)} chart marks equal the JSON report's; {pages} PDF pages; "
          f"browser test took {time.monotonic() - started:.0f}s")
