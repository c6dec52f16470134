"""The care team's queue in a real browser (headless Chromium over the DevTools protocol) against
a real worker on the real broker: a complaint appears, an XSS payload shows as text and runs
nothing, an answered complaint leaves. A screenshot is saved as a test artefact (the path is
printed; MENTIONWATCH_ARTIFACTS chooses the directory)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from cdp import Browser
from conftest import Stack
from queue_helpers import brand_reply, mention, post_mentions

pytestmark = pytest.mark.kafka

ENV = {"MENTIONWATCH_TICK_INTERVAL_SECONDS": "0.5", "MENTIONWATCH_STORE": "memory://",
       "MENTIONWATCH_ALLOWED_LATENESS_SECONDS": "2", "MENTIONWATCH_IDLE_GRACE_SECONDS": "1",
       # Every inbound mention is a complaint: the payloads below are queued as they are.
       "MENTIONWATCH_COMPLAINT_THRESHOLD": "0"}
PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
TEXTS = "Array.from(document.querySelectorAll('#rows td.text')).map(td => td.textContent)"


def _has(texts: list[str]) -> str:
    wanted = json.dumps(texts)
    return f"(() => {{ const t = {TEXTS}; return {wanted}.every(x => t.includes(x)); }})()"


def test_the_queue_page_in_a_browser(stack: Stack, tmp_path: Path) -> None:
    started = time.monotonic()
    worker = stack.start_worker("w1", **ENV)
    artifacts = Path(os.environ.get("MENTIONWATCH_ARTIFACTS") or tmp_path)
    shot = artifacts / "queue-page.png"
    complaint = mention("880001", "kunde1", "Der ICE nach Köln ist schon wieder ausgefallen",
                        brand="fernbahn", followers=1234)
    xss = [mention(f"88000{2 + i}", f"angreifer{i}", text, brand="fernbahn")
           for i, text in enumerate(PAYLOADS)]
    xss[1]["author"]["handle"] = "<b>bold</b>"
    xss[1]["url"] = "javascript:alert(3)"

    async def scenario() -> float:
        browser = Browser(tmp_path / "chromium")
        try:
            await browser.start()
            await browser.call("Page.enable")
            await browser.call("Runtime.enable")
            await browser.call("Page.navigate", url=f"{worker.url}/queue")
            await browser.wait_for("the script renders the queue",
                                   "document.body && document.body.getAttribute('data-updated')")
            assert "No complaint is waiting." in await browser.evaluate(
                "document.getElementById('rows').textContent")

            sent = time.monotonic()
            await asyncio.to_thread(post_mentions, worker, [complaint])
            await browser.wait_for("the complaint appears", _has([complaint["text"]]))
            appeared = time.monotonic() - sent

            await asyncio.to_thread(post_mentions, worker, xss)
            await browser.wait_for("the payloads appear as text", _has(PAYLOADS))
            assert await browser.evaluate(
                "document.querySelectorAll('#rows img, #rows script, #rows b, #rows svg')"
                ".length") == 0
            handles = await browser.evaluate(
                "Array.from(document.querySelectorAll('#rows tr')).map(r => r.children[3]"
                ".textContent)")
            assert "<b>bold</b>" in handles
            hrefs = await browser.evaluate(
                "Array.from(document.querySelectorAll('#rows a')).map(a => [a.href, a.rel])")
            assert hrefs and all(href.startswith("https://") and rel == "noopener noreferrer"
                                 for href, rel in hrefs), hrefs
            status = await browser.evaluate("document.getElementById('status').textContent")
            assert status.startswith("3 complaints waiting"), status
            await browser.screenshot(shot)

            await asyncio.to_thread(post_mentions, worker, [brand_reply("880009", complaint)])
            await browser.wait_for(
                "the answered complaint leaves",
                f"!{_has([complaint['text']])} && {_has(PAYLOADS)}", timeout_s=20)
            dialogs = [e for e in browser.events if e["method"] == "Page.javascriptDialogOpening"]
            assert dialogs == []
            return appeared
        finally:
            await browser.close()

    appeared = asyncio.run(scenario())
    log = worker.log_path.read_text(errors="replace")
    assert not [t for t in [*PAYLOADS, complaint["text"]] if t in log]  # no customer text
    print(f"\nqueue page screenshot: {shot}")
    print(f"a complaint appeared in the page {appeared:.1f}s after POST /mentions; "
          f"browser test took {time.monotonic() - started:.0f}s")
    assert shot.stat().st_size > 10_000
