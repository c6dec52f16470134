"""Benchmark (not a test): texts per second of the default classifier on one core.

The mix is every real text in ../shared/data that mentionwatch would see as a mention: the
English airline tweets, the German GermEval documents (tweets, news, forum posts) and the
customer tweets of the TWCS customer-support sample, shuffled with a fixed seed. Reported:

* cold: a fresh classifier, one pass (every cache starts empty: each distinct
  whitespace-separated piece of text is tokenised and looked up once);
* warm: further passes over the same texts, median of the passes — the steady state of a
  long-running worker, whose bounded caches stay hot for the frequent pieces. The target
  (20,000 texts/s) is judged on this figure.

Throughput is texts / CPU seconds of this (single-threaded) process, so other load on the
machine does not distort it; wall-clock figures are printed too.

    python bench/bench_classifier.py [--passes N] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from streams.classification import LexiconClassifier  # noqa: E402

TARGET = 20_000


def default_data_dir() -> Path:
    env = os.environ.get("MENTIONWATCH_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_texts(data: Path) -> dict[str, list[str]]:
    csv.field_size_limit(10_000_000)
    out: dict[str, list[str]] = {}
    with (data / "airline" / "dev.csv").open(encoding="utf-8", newline="") as handle:
        out["airline (en tweets)"] = [row["text"] for row in csv.DictReader(handle)]
    with (data / "germeval2017" / "dev.tsv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        out["germeval (de tweets, news, forums)"] = [row["text"] for row in reader]
    twcs = data / "twcs" / "twcs_head5000.csv"
    if twcs.exists():
        with twcs.open(encoding="utf-8", newline="") as handle:
            out["twcs (en customer tweets)"] = [
                row["text"] for row in csv.DictReader(handle) if row["inbound"] == "True"
            ]
    return out


def run(texts: list[str], passes: int) -> None:
    classifier = LexiconClassifier()
    classify = classifier.classify
    n = len(texts)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for text in texts:
        classify(text)
    cold_cpu, cold_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rates: list[float] = []
    wall_rates: list[float] = []
    for _ in range(passes):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for text in texts:
            classify(text)
        rates.append(n / (time.process_time() - cpu0))
        wall_rates.append(n / (time.perf_counter() - wall0))
    warm = statistics.median(rates)
    print(f"cold  (first pass, empty caches): {n / cold_cpu:>9,.0f} texts/s CPU"
          f"  ({n / cold_wall:,.0f} wall)")
    print(f"warm  (median of {passes} passes):      {warm:>9,.0f} texts/s CPU"
          f"  ({statistics.median(wall_rates):,.0f} wall; best {max(rates):,.0f})")
    verdict = "meets" if warm >= TARGET else "MISSES"
    print(f"target {TARGET:,} texts/s on one core (steady state): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--data", type=Path, default=default_data_dir())
    args = parser.parse_args()
    sets = load_texts(args.data)
    texts = [t for group in sets.values() for t in group]
    random.Random(2017).shuffle(texts)
    chars = sum(len(t) for t in texts)
    print(f"python {sys.version.split()[0]}, one process, one thread")
    for name, group in sets.items():
        print(f"  {name:<36} {len(group):>6} texts")
    print(f"  mix: {len(texts)} texts, mean {chars / len(texts):.0f} characters")
    run(texts, args.passes)


if __name__ == "__main__":
    main()
