"""How well the embedded content guard catches what it should, on the labelled set kept in tests.

    python -m benchmarks.guard_eval [--threshold 0.6] [--misses]

Runs every item of tests/safety/labelled.jsonl (harmful requests and answers in six languages,
jailbreaks, prompt injections in fetched pages, benign texts and look-alikes such as "how do I kill
a python process") through `EmbeddedGuard` and prints precision and recall of the unsafe class and
of each category, what each group of items had caught, and the time per text.
The same figures back the floors in tests/safety/test_embedded_guard.py.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")  # the guard reads its settings

from safety.embedded import DEFAULT_THRESHOLD, EmbeddedGuard, trained_classifier
from safety.llama_guard import PROMPT_ATTACK_CATEGORIES, S_CATEGORIES
from safety.verdict import Verdict

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "safety" / "labelled.jsonl"


@dataclass(frozen=True)
class Item:
    text: str
    unsafe: bool
    categories: tuple[str, ...]
    group: str
    lang: str


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    support: int

    def __str__(self) -> str:
        return f"precision {self.precision:.2f}  recall {self.recall:.2f}  (n={self.support})"


def labelled_items(path: Path = LABELLED) -> list[Item]:
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return [Item(r["text"], r["unsafe"], tuple(r["categories"]), r["group"], r["lang"]) for r in rows]


def classify_all(guard: EmbeddedGuard, items: Iterable[Item]) -> list[Verdict]:
    return [guard.classify(item.text) for item in items]


def unsafe_scores(items: list[Item], verdicts: list[Verdict]) -> Scores:
    return _scores([(item.unsafe, not verdict.safe) for item, verdict in zip(items, verdicts, strict=True)])


def category_scores(items: list[Item], verdicts: list[Verdict], category: str) -> Scores:
    return _scores(
        [(category in item.categories, category in v.categories) for item, v in zip(items, verdicts, strict=True)]
    )


def _scores(pairs: list[tuple[bool, bool]]) -> Scores:
    hits = sum(expected and predicted for expected, predicted in pairs)
    predicted = sum(p for _, p in pairs)
    expected = sum(e for e, _ in pairs)
    return Scores(hits / predicted if predicted else 1.0, hits / expected if expected else 1.0, expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--misses", action="store_true", help="list every wrong verdict")
    args = parser.parse_args()
    started = time.perf_counter()
    trained_classifier()
    print(f"load + train: {time.perf_counter() - started:.1f} s")
    guard = EmbeddedGuard(categories=(*S_CATEGORIES, *PROMPT_ATTACK_CATEGORIES), threshold=args.threshold)
    items = labelled_items()
    started = time.perf_counter()
    verdicts = classify_all(guard, items)
    per_text_ms = (time.perf_counter() - started) / len(items) * 1000
    print(f"{len(items)} items, {per_text_ms:.1f} ms a text\n")
    print(f"unsafe (any category): {unsafe_scores(items, verdicts)}")
    for category in (*S_CATEGORIES, *PROMPT_ATTACK_CATEGORIES):
        print(f"  {category:>9}: {category_scores(items, verdicts, category)}")
    caught = Counter(item.group for item, v in zip(items, verdicts, strict=True) if not v.safe)
    totals = Counter(item.group for item in items)
    print("\nflagged per group (harmful, jailbreak, injection should be; benign, lookalike should not):")
    for group, total in totals.items():
        print(f"  {group:>9}: {caught[group]}/{total}")
    flagged_by_lang = Counter(i.lang for i, v in zip(items, verdicts, strict=True) if i.unsafe and not v.safe)
    unsafe_by_lang = Counter(i.lang for i in items if i.unsafe)
    by_lang = ", ".join(f"{lang} {flagged_by_lang[lang]}/{n}" for lang, n in unsafe_by_lang.items())
    print(f"unsafe items flagged per language: {by_lang}")
    if args.misses:
        print("\nwrong verdicts:")
        for item, verdict in zip(items, verdicts, strict=True):
            if item.unsafe == verdict.safe:
                print(f"  [{item.group}/{item.lang}] {verdict.detail} {verdict.categories} {item.text[:90]}")


if __name__ == "__main__":
    main()
