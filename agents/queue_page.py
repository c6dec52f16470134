"""The care team's queue page (GET /queue): server-rendered HTML plus a small script that polls
/queue.json every 2 s and renders the rows again.

Customer text never becomes markup: the server escapes every value (html.escape, attributes
quoted), the script sets text with textContent and builds elements with createElement, and a
link's href is set only to an http(s) URL. The Content-Security-Policy allows only this page's
own script and style (by a per-response nonce), no inline event handlers, and fetches to this
origin only.
"""

from __future__ import annotations

import html
import secrets
from datetime import UTC, datetime

from streams.queue import MergedQueue, QueueEntry, safe_http_url

# Rows the page shows (the count says how many there are in all).
PAGE_ROWS = 500
POLL_MS = 2000


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def content_security_policy(nonce: str) -> str:
    return ("default-src 'none'; "
            f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def duration(seconds: float) -> str:
    """2 d 3 h, 1 h 05 min, 12 min, 40 s (the script's dur() gives the same)."""
    s = int(abs(seconds))
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m = rest // 60
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min"
    return f"{s} s"


def _utc(ms: int | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_line(q: MergedQueue) -> str:
    """What the list covers, in words (the script's statusLine() gives the same)."""
    n = q.count
    parts = [f"{n} complaint{'' if n == 1 else 's'} waiting"]
    if q.count > len(q.entries):
        parts.append(f"the first {len(q.entries)} shown")
    answered = [w for w in q.workers if w.answered]
    as_of = [w.as_of_ms for w in answered if w.as_of_ms is not None]
    if as_of:
        parts.append(f"as of {_utc(min(as_of))}")
    parts.append(f"{len(q.covered)} of {q.partitions_total} partitions from "
                 f"{len(answered)} worker{'' if len(answered) == 1 else 's'}")
    return " · ".join(parts)


def problems(q: MergedQueue) -> list[str]:
    out = []
    if q.stale_since_ms is not None:
        out.append(f"stale since {_utc(q.stale_since_ms)}: a worker can't confirm writes to "
                   "the broker, so the list may be out of date")
    if not q.complete:
        why = []
        if q.missing:
            why.append(f"partitions {', '.join(map(str, q.missing))} missing")
        for w in q.workers:
            if not w.answered:
                why.append(f"worker {w.worker} did not answer ({w.error})")
            elif w.rebalancing:
                why.append(f"worker {w.worker} is rebalancing")
        out.append("INCOMPLETE: " + ("; ".join(why) or "not every worker answered"))
    return out


def flag(e: QueueEntry) -> tuple[str, str]:
    """The first column's word and the row's class (the script's flag() gives the same)."""
    if e.answered_at_ms is not None:
        return "ANSWERED", "answered"
    if e.overdue:
        return ("OVERDUE · IGNORED SOON" if e.ignore_soon else "OVERDUE"), "overdue"
    if e.due_soon:
        return "DUE SOON", "due-soon"
    return "", ""


def _row(e: QueueEntry) -> str:
    link = safe_http_url(e.link)
    sla = ("overdue by " if e.sla_remaining_ms < 0 else "") + duration(e.sla_remaining_ms / 1000)
    word, cls = flag(e)
    answered = ("" if e.answered_at_ms is None else
                f'<br><span class="when">answer of {_e(_utc(e.answered_at_ms))} received; '
                "leaves once the clock reaches it</span>")
    cells = [
        f'<td class="flag">{_e(word)}{answered}</td>',
        f"<td>{_e(e.brand)}</td>",
        f"<td>{_e(e.platform)}</td>",
        f"<td>{_e(e.author_handle or '—')}</td>",
        f'<td class="text">{_e(e.text if e.text is not None else "(text not kept)")}</td>',
        f"<td>{_e(duration(e.age_ms / 1000))}</td>",
        f"<td>{_e(sla)}"
        f'<br><span class="when">{_e(_utc(e.sla_deadline_ms))}</span></td>',
        f"<td>{_e(duration(e.ignore_remaining_ms / 1000))}"
        f'<br><span class="when">{_e(_utc(e.ignore_deadline_ms))}</span></td>',
        f"<td>{_e(f'{e.followers:,}' if e.followers is not None else '—')}</td>",
        (f'<td><a href="{_e(link)}" rel="noopener noreferrer" target="_blank">open</a></td>'
         if link else "<td>—</td>"),
    ]
    row_class = f' class="{cls}"' if cls else ""
    return f'<tr{row_class} data-id="{_e(e.mention_id)}">{"".join(cells)}</tr>'


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 1.5rem; color: #1d1d1f; }
h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
form { margin: .3rem 0 .6rem; } input { width: 10rem; }
.status { margin: .2rem 0; color: #444; }
.problem { margin: .2rem 0; padding: .3rem .5rem; background: #fde8e8; color: #8a1c1c;
           border-left: 4px solid #c62828; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem;
         border-bottom: 1px solid #ddd; }
th { background: #f3f3f5; position: sticky; top: 0; }
td.text { max-width: 36rem; white-space: pre-wrap; overflow-wrap: anywhere; }
tr.overdue td.flag { color: #fff; background: #c62828; font-weight: 600; }
tr.due-soon td.flag { background: #ffe9a8; font-weight: 600; }
tr.answered td { color: #888; } tr.answered td.flag { color: #2e7d32; font-weight: 600; }
.when { color: #777; font-size: .85em; }
.empty { color: #777; padding: 1rem .5rem; }
"""

# Everything from the answer goes through textContent or a checked href: never innerHTML.
_SCRIPT = """
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var query = new URLSearchParams();
  ["brand", "platform"].forEach(function (name) {
    var value = params.get(name);
    if (value) { query.set(name, value); }
  });
  query.set("limit", "__ROWS__");
  var url = "/queue.json?" + query.toString();
  var rows = document.getElementById("rows");
  var statusEl = document.getElementById("status");
  var problemsEl = document.getElementById("problems");

  function dur(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    if (d) { return d + " d " + h + " h"; }
    if (h) { return h + " h " + (m < 10 ? "0" : "") + m + " min"; }
    if (m) { return m + " min"; }
    return s + " s";
  }
  function when(ms) {
    return ms === null || ms === undefined ? "—" : new Date(ms).toLocaleString();
  }
  function text(tag, value, className) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (className) { el.className = className; }
    return el;
  }
  function cell(tr, value, className) {
    var td = text("td", value, className);
    tr.appendChild(td);
    return td;
  }
  function withWhen(tr, value, ms) {
    var td = cell(tr, value);
    td.appendChild(document.createElement("br"));
    td.appendChild(text("span", when(ms), "when"));
  }
  function flag(e) {
    if (e.answered_at_ms !== null && e.answered_at_ms !== undefined) {
      return ["ANSWERED", "answered"];
    }
    if (e.overdue) { return [e.ignore_soon ? "OVERDUE · IGNORED SOON" : "OVERDUE", "overdue"]; }
    if (e.due_soon) { return ["DUE SOON", "due-soon"]; }
    return ["", ""];
  }
  function row(e) {
    var tr = document.createElement("tr");
    var f = flag(e);
    if (f[1]) { tr.className = f[1]; }
    tr.setAttribute("data-id", String(e.id));
    var flagCell = cell(tr, f[0], "flag");
    if (f[1] === "answered") {
      flagCell.appendChild(document.createElement("br"));
      flagCell.appendChild(text("span", "answer of " + when(e.answered_at_ms) +
                                " received; leaves once the clock reaches it", "when"));
    }
    cell(tr, e.brand);
    cell(tr, e.platform);
    cell(tr, e.author_handle || "—");
    cell(tr, e.text === null ? "(text not kept)" : e.text, "text");
    cell(tr, dur(e.age_s));
    withWhen(tr, (e.sla_remaining_s < 0 ? "overdue by " : "") + dur(e.sla_remaining_s),
             e.sla_deadline_ms);
    withWhen(tr, dur(e.ignore_remaining_s), e.ignore_deadline_ms);
    cell(tr, e.followers === null ? "—" : e.followers.toLocaleString());
    var td = document.createElement("td");
    if (typeof e.link === "string" && /^https?:\\/\\/[^\\s]+$/i.test(e.link)) {
      var a = text("a", "open");
      a.href = e.link;
      a.rel = "noopener noreferrer";
      a.target = "_blank";
      td.appendChild(a);
    } else {
      td.textContent = "—";
    }
    tr.appendChild(td);
    return tr;
  }
  function statusLine(data) {
    var n = data.count, parts = [n + " complaint" + (n === 1 ? "" : "s") + " waiting"];
    if (data.truncated) { parts.push("the first " + data.entries.length + " shown"); }
    var answered = data.workers.filter(function (w) { return w.answered; });
    if (data.as_of) { parts.push("as of " + new Date(data.as_of).toLocaleString()); }
    parts.push(data.partitions.covered.length + " of " + data.partitions.total +
               " partitions from " + answered.length + " worker" +
               (answered.length === 1 ? "" : "s"));
    return parts.join(" · ");
  }
  function showProblems(list) {
    problemsEl.replaceChildren();
    list.forEach(function (p) { problemsEl.appendChild(text("p", p, "problem")); });
  }
  function render(data) {
    var fresh = document.createDocumentFragment();
    data.entries.forEach(function (e) { fresh.appendChild(row(e)); });
    if (!data.entries.length) {
      var tr = document.createElement("tr");
      var td = cell(tr, "No complaint is waiting.", "empty");
      td.colSpan = 10;
      fresh.appendChild(tr);
    }
    rows.replaceChildren(fresh);
    statusEl.textContent = statusLine(data);
    var list = [];
    if (data.stale_since) {
      list.push("stale since " + new Date(data.stale_since).toLocaleString() +
                ": a worker can't confirm writes to the broker, so the list may be out of date");
    }
    if (!data.complete) {
      var why = [];
      if (data.partitions.missing.length) {
        why.push("partitions " + data.partitions.missing.join(", ") + " missing");
      }
      data.workers.forEach(function (w) {
        if (!w.answered) { why.push("worker " + w.url + " did not answer (" + w.error + ")"); }
        else if (w.rebalancing) { why.push("worker " + w.url + " is rebalancing"); }
      });
      list.push("INCOMPLETE: " + (why.join("; ") || "not every worker answered"));
    }
    showProblems(list);
    document.body.setAttribute("data-updated", String(Date.now()));
  }
  function poll() {
    fetch(url, {credentials: "same-origin", cache: "no-store",
                headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(render)
      .catch(function (error) {
        showProblems(["could not load the queue at " + new Date().toLocaleTimeString() +
                      " (" + error.message + "); the list below is from before"]);
      })
      .then(function () { window.setTimeout(poll, __POLL_MS__); });
  }
  poll();
})();
""".replace("__ROWS__", str(PAGE_ROWS)).replace("__POLL_MS__", str(POLL_MS))


def render_page(q: MergedQueue, *, brand: str | None, platform: str | None, nonce: str) -> str:
    rows = "".join(_row(e) for e in q.entries) or (
        '<tr><td class="empty" colspan="10">No complaint is waiting.</td></tr>')
    problem_html = "".join(f'<p class="problem">{_e(p)}</p>' for p in problems(q))
    title = "Complaints waiting" + (f" — {brand}" if brand else "")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{_e(title)} · mentionwatch</title>
<style nonce="{_e(nonce)}">{_STYLE}</style>
</head>
<body>
<h1>{_e(title)}</h1>
<form method="get" action="/queue">
<label>Brand <input name="brand" value="{_e(brand or '')}" maxlength="64"></label>
<label>Platform <input name="platform" value="{_e(platform or '')}" maxlength="32"></label>
<button type="submit">Filter</button>
</form>
<p id="status" class="status">{_e(status_line(q))}</p>
<div id="problems">{problem_html}</div>
<table id="queue">
<thead><tr><th></th><th>Brand</th><th>Platform</th><th>Author</th><th>Text</th>
<th>Waiting (business time)</th><th>SLA</th><th>Ignored in</th><th>Reach</th><th>Post</th></tr>
</thead>
<tbody id="rows">{rows}</tbody>
</table>
<script nonce="{_e(nonce)}">{_SCRIPT}</script>
</body>
</html>
"""


__all__ = ["PAGE_ROWS", "content_security_policy", "new_nonce", "render_page"]
