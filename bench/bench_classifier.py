"""Benchmark (not a test): texts per second on one core, on text the classifier has NOT seen.

The classifiers cache what they looked up (pieces of text, words), so classifying the same
texts again is fast and says little. Measured here, for the lexicon and for a trained model:

* fresh: texts never seen before, made from the real texts of ../shared/data by recombining
  their words (each text takes its length from a real one and its words from other real texts
  of the same set; about one word in ten is made new: a number, an elongation, a typo, a
  handle), every text distinct. Measured after a warm-up on other fresh texts: the steady state
  of a worker that has seen common words before but never these texts. The targets (lexicon
  20,000/s, model 10,000/s) are judged on this figure.
* once: every real text once, caches emptied first (a cold start: no word seen before).
* repeat: the real texts again (warm caches; for comparison only).

The model is trained here, on the airline and GermEval dev sets, and never written anywhere
(the data is licensed non-commercial; nothing fitted on it is shipped). Throughput is texts per
CPU second of this single-threaded process, so other load on the machine does not distort it.
The targets are judged with the classifier compiled (./dev setup does it, see
streams/classification/compiled.py); the first line says which ran.

    python bench/bench_classifier.py [--texts N] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from streams.classification import LexiconClassifier  # noqa: E402
from streams.classification.compiled import is_compiled  # noqa: E402
from streams.classification.model import LabelledText, load_model, train  # noqa: E402

TARGETS = {"lexicon": 20_000, "model": 10_000}


def default_data_dir() -> Path:
    env = os.environ.get("MENTIONWATCH_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_sets(data: Path) -> dict[str, list[LabelledText]]:
    """The real texts by set (labelled where the set has labels)."""
    csv.field_size_limit(10_000_000)
    out: dict[str, list[LabelledText]] = {}
    with (data / "airline" / "dev.csv").open(encoding="utf-8", newline="") as handle:
        out["airline"] = [LabelledText(r["text"], "en", r["airline_sentiment"], id=r["tweet_id"])
                          for r in csv.DictReader(handle)]
    with (data / "germeval2017" / "dev.tsv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        out["germeval"] = [LabelledText(r["text"], "de", r["sentiment"],
                                        relevant=r["relevance"] == "true", id=r["id"])
                           for r in reader]
    twcs = data / "twcs" / "twcs_head5000.csv"
    if twcs.exists():
        with twcs.open(encoding="utf-8", newline="") as handle:
            out["twcs"] = [LabelledText(r["text"]) for r in csv.DictReader(handle)
                           if r["inbound"] == "True"]
    return out


_LETTERS = "abcdefghijklmnopqrstuvwxyzäöü"


def _novel(word: str, rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return str(rng.randrange(10, 100_000))
    if kind == 1 and word and word[-1].isalpha():
        return word + word[-1] * rng.randrange(2, 5)  # elongation: "soooo"
    if kind == 2 and len(word) > 3:
        i = rng.randrange(1, len(word) - 1)
        return word[:i] + rng.choice(_LETTERS) + word[i + 1:]  # a typo
    return "@" + "".join(rng.choice(_LETTERS) for _ in range(rng.randrange(4, 10)))


def fresh_texts(sets: dict[str, list[str]], n: int, seed: int, seen: set[str],
                novel_share: float = 0.1) -> list[str]:
    """n distinct texts none of which is in ``seen`` (which they are added to)."""
    rng = random.Random(seed)
    pieces = {name: [t.split() for t in texts if t.split()] for name, texts in sets.items()}
    names = sorted(pieces)
    out: list[str] = []
    while len(out) < n:
        group = pieces[rng.choice(names)]
        length = len(rng.choice(group))
        words = []
        for _ in range(length):
            word = rng.choice(rng.choice(group))
            words.append(_novel(word, rng) if rng.random() < novel_share else word)
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def rate(classify: Callable[[str], object], texts: list[str]) -> float:
    cpu0 = time.process_time()
    for text in texts:
        classify(text)
    return len(texts) / (time.process_time() - cpu0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20_000,
                        help="fresh texts per measurement (and as many for the warm-up)")
    parser.add_argument("--data", type=Path, default=default_data_dir())
    args = parser.parse_args()
    sets = load_sets(args.data)
    real = [e.text for group in sets.values() for e in group]
    random.Random(2017).shuffle(real)
    by_set = {name: [e.text for e in group] for name, group in sets.items()}
    seen = set(real)
    warmup = fresh_texts(by_set, args.texts, seed=1, seen=seen)
    fresh = fresh_texts(by_set, args.texts, seed=2, seen=seen)
    chars = sum(map(len, fresh)) / len(fresh)
    print(f"python {sys.version.split()[0]}, one process, one thread")
    print("  classifier: " + ("compiled by mypyc (./dev setup)" if is_compiled() else
                             "Python source, not compiled (python -m tools.compile_classifier)"))
    print(f"  real texts: {len(real)} ({', '.join(f'{k} {len(v)}' for k, v in sets.items())})")
    print(f"  fresh texts: {len(fresh)} measured after {len(warmup)} others, mean "
          f"{chars:.0f} characters, none seen before")

    t0 = time.perf_counter()
    model_bytes = train(sets["airline"] + sets["germeval"]).to_bytes()
    print(f"  model trained on airline + germeval in {time.perf_counter() - t0:.0f}s "
          f"({len(model_bytes) / 1e6:.1f} MB, not written)")

    results: dict[str, dict[str, float]] = {}
    for name in ("lexicon", "model"):
        def build(kind: str = name) -> Callable[[str], object]:
            lexicon = LexiconClassifier()  # empty caches
            if kind == "lexicon":
                return lexicon.classify
            return load_model(model_bytes, lexicon=lexicon).classify

        cold = build()
        once = rate(cold, real)
        steady = build()
        rate(steady, warmup)
        fresh_rate = rate(steady, fresh)
        repeat = rate(steady, real[:args.texts])
        repeat = rate(steady, real[:args.texts])
        results[name] = {"fresh": fresh_rate, "once": once, "repeat": repeat}

    print()
    print(f"{'texts/s (CPU, one core)':<42} {'lexicon':>9} {'model':>9}")
    rows = (("fresh (never seen; steady state)", "fresh"),
            ("once (every real text once, cold caches)", "once"),
            ("repeat (real texts again, warm caches)", "repeat"))
    for label, key in rows:
        print(f"{label:<42} {results['lexicon'][key]:>9,.0f} {results['model'][key]:>9,.0f}")
    for name, target in TARGETS.items():
        verdict = "meets" if results[name]["fresh"] >= target else "MISSES"
        print(f"target {name}: {target:,} texts/s on fresh text: {verdict}")


if __name__ == "__main__":
    main()
