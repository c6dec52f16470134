"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where the CPU time goes.

* owner: each sample is charged to the nearest frame from the leaf that is not the standard
  library (so datetime/re/zoneinfo work done for our code counts as ours, asyncio's own loop
  counts as "event loop" only when nothing else is below it);
* self: the leaf function;
* inclusive: every function on the stack, once per sample.

    python -m bench.profile_summary bench/results/<run>/worker.raw.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")
_STDLIB = set(sys.stdlib_module_names) | {"<frozen importlib._bootstrap>", "<string>"}
OWNERS = {
    "agents": "mentionwatch: agents/ (faust shell)",
    "streams": "mentionwatch: streams/ (core)",
    "schemas": "mentionwatch: schemas/ (codec)",
    "bench": "bench app code",
    "faust": "faust + mode (framework)",
    "mode": "faust + mode (framework)",
    "aiokafka": "aiokafka (Kafka client)",
    "kafka": "kafka-python (Kafka client)",
    "quixstreams": "quixstreams (framework)",
    "confluent_kafka": "confluent-kafka (Kafka client)",
    "prometheus_client": "prometheus_client (metrics)",
    "aiohttp": "aiohttp (web)",
}


def _parse_frame(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    return m.group("func"), m.group("path")


def _top(path: str) -> str:
    first = path.split("/", 1)[0]
    return first[:-3] if first.endswith(".py") else first


def owner_of(path: str) -> str | None:
    """None for the standard library."""
    top = _top(path)
    if top in OWNERS:
        return OWNERS[top]
    if top in _STDLIB or not path:
        return None
    return f"other: {top}"


def summarise(raw: Path, top: int = 25) -> dict[str, Any]:
    owners: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        try:
            count = int(count_s)
        except ValueError:
            continue
        frames = [_parse_frame(f) for f in stack.split(";") if f]
        frames = [f for f in frames if not f[0].startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        owner = "event loop / stdlib (asyncio, selectors, threads)"
        for _func, path in reversed(frames):
            o = owner_of(path)
            if o is not None:
                owner = o
                break
        owners[owner] += count
        func, path = frames[-1]
        self_[f"{func} ({path})"] += count
        for name in {f"{func} ({path})" for func, path in frames}:
            incl[name] += count
    if not total:
        return {"samples": 0}

    def pct(c: Counter[str], n: int) -> list[list[Any]]:
        return [[k, round(100 * v / total, 1)] for k, v in c.most_common(n)]

    return {"samples": total, "owners": pct(owners, 20), "self": pct(self_, top),
            "inclusive": pct(incl, top * 2)}


def render(summary: dict[str, Any], top: int = 15) -> str:
    if not summary.get("samples"):
        return "  (no samples)"
    lines = [f"  {summary['samples']} samples"]
    lines.append("  by owner (nearest non-stdlib frame):")
    lines += [f"    {p:5.1f}%  {k}" for k, p in summary["owners"]]
    lines.append("  top self (leaf) functions:")
    lines += [f"    {p:5.1f}%  {k}" for k, p in summary["self"][:top]]
    lines.append("  top inclusive functions:")
    lines += [f"    {p:5.1f}%  {k}" for k, p in summary["inclusive"][:top * 2]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(render(summarise(args.raw, args.top), args.top))


if __name__ == "__main__":
    main()
