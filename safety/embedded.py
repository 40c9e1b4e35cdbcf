"""The embedded content guard: a CPU stand-in for Llama Guard 3 built from shipped weights.

It lets development, tests and a laptop install run with a guard behind the production interface;
it is not a production guard. No package ships Llama Guard or a classifier of the 14 hazard
categories, so this guard scores each sentence window of a text with `embedded_classifier`
(all-MiniLM-L6-v2 embeddings beside character and word n-grams, a logistic regression blended
with the vote of the nearest exemplars, trained once per machine on `safety/data/exemplars.jsonl`
in the eight product languages), and `prompt_attack_rules` flags unambiguous prompt-attack phrasing.

It is weaker than Llama Guard 3: it reads one turn without its conversation and knows the harm
vocabulary of a few thousand exemplars, not of a language model. benchmarks/guard_eval.py measures
it on the held-out sets tests/safety/labelled*.jsonl; docs/safety.md has the figures.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from safety.embedded_classifier import HAZARDS, ExemplarClassifier
from safety.embedded_classifier import trained_classifier as classifier_for
from safety.llama_guard import turns_to_classify
from safety.prompt_attack_rules import attacks_named
from safety.verdict import Verdict

__all__ = ["DEFAULT_THRESHOLD", "EXEMPLARS", "HAZARDS", "EmbeddedGuard", "trained_classifier", "windows"]

EXEMPLARS = Path(__file__).resolve().parent / "data" / "exemplars.jsonl"
# Texts are judged sentence by sentence (harm in one sentence of a long answer is not diluted by the
# rest), and short texts also whole; fragments shorter than this join the next sentence.
_MIN_SENTENCE_CHARS = 40
_WHOLE_TEXT_CHARS = 500
_SENTENCE_END = re.compile(r"(?<=[.!?。！？।])\s+|\n+")

# P(unsafe) from which a text is flagged: at 0.6 the held-out sets give recall 0.93 and 2.1 % false
# alarms; at 0.55, recall 0.96 and 4.9 % false alarms.
DEFAULT_THRESHOLD = 0.6


@dataclass(frozen=True)
class _Scored:
    unsafe: float
    categories: tuple[str, ...]


# One encoder call takes at most this many texts: under a burst the first checks are answered
# before the last ones are encoded (the sentence encoder runs batches of 64 anyway).
MAX_BATCH_TEXTS = 64


class CheckBatch:
    """Continuous batching of checks: a check arriving while the encoder is idle is classified at
    once; checks arriving while it runs wait and go together in the next call (one MiniLM pass over
    many texts costs far less CPU than one pass each)."""

    def __init__(self, classify_many: Callable[[list[str]], list[Verdict]]) -> None:
        self.classify_many = classify_many
        self.pending: list[tuple[str, asyncio.Future[Verdict]]] = []
        self.draining: asyncio.Task[None] | None = None

    async def classify(self, text: str) -> Verdict:
        verdict: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self.pending.append((text, verdict))
        if self.draining is None:
            self.draining = asyncio.create_task(self._drain())
        return await verdict

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH_TEXTS], self.pending[MAX_BATCH_TEXTS:]
                await self._classify(batch)
        finally:
            self.draining = None

    async def _classify(self, batch: list[tuple[str, asyncio.Future[Verdict]]]) -> None:
        try:
            verdicts = await asyncio.to_thread(self.classify_many, [text for text, _ in batch])
        except Exception as error:  # every waiting check fails the same way (the policy decides)
            for _, waiting in batch:
                if not waiting.done():
                    waiting.set_exception(error)
            return
        for (_, waiting), verdict in zip(batch, verdicts, strict=True):
            if not waiting.done():
                waiting.set_result(verdict)


class EmbeddedGuard:
    name = "embedded-minilm"

    def __init__(
        self, *, categories: Iterable[str], threshold: float = DEFAULT_THRESHOLD, exemplars: Path = EXEMPLARS
    ) -> None:
        self.categories = tuple(categories)
        self.threshold = threshold
        self.exemplars = exemplars
        # Checks arriving together (many turns starting at once) share one encoder call per loop.
        self._batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CheckBatch] = weakref.WeakKeyDictionary()

    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict:
        text = turns_to_classify(conversation, agent=agent)[-1][1]
        loop = asyncio.get_running_loop()
        if loop not in self._batches:
            self._batches[loop] = CheckBatch(self.classify_many)
        return await self._batches[loop].classify(text)

    def classify(self, text: str) -> Verdict:
        """The verdict on one text (blocking: runs the encoder)."""
        return self.classify_many([text])[0]

    def classify_many(self, texts: list[str]) -> list[Verdict]:
        """Verdicts on several texts with one encoder call (blocking): a text is unsafe when some
        window of it is, in a checked category; the categories of every unsafe window, the most
        certain first."""
        per_text = [windows(text) for text in texts]
        scored = iter(self._score([window for text_windows in per_text for window in text_windows]))
        return [self._verdict([next(scored) for _ in text_windows]) for text_windows in per_text]

    def _verdict(self, scored: list[_Scored]) -> Verdict:
        scored = sorted(scored, key=lambda s: s.unsafe, reverse=True)
        unsafe_windows = (s for s in scored if s.unsafe >= self.threshold)
        flagged = tuple(dict.fromkeys(c for s in unsafe_windows for c in s.categories if c in self.categories))
        detail = f"p_unsafe={scored[0].unsafe:.2f}"
        return Verdict(safe=False, categories=flagged, detail=detail) if flagged else Verdict(safe=True, detail=detail)

    def _score(self, texts: list[str]) -> list[_Scored]:
        unsafe, hazards = trained_classifier(self.exemplars).predict(texts)
        scored = []
        for text, p_unsafe, likeliest in zip(texts, unsafe, hazards, strict=True):
            ruled = attacks_named(text)
            if ruled:
                learned = (likeliest,) if p_unsafe >= self.threshold else ()
                scored.append(_Scored(unsafe=1.0, categories=tuple(dict.fromkeys((*ruled, *learned)))))
            else:
                scored.append(_Scored(unsafe=p_unsafe, categories=(likeliest,)))
        return scored


def windows(text: str) -> list[str]:
    """The sentences of `text` (fragments joined to the next), plus the whole text when it is short."""
    sentences: list[str] = []
    pending = ""
    for sentence in filter(None, (s.strip() for s in _SENTENCE_END.split(text))):
        pending = f"{pending} {sentence}".strip()
        if len(pending) >= _MIN_SENTENCE_CHARS:
            sentences.append(pending)
            pending = ""
    if pending:
        sentences.append(pending)
    whole = text.strip()
    if len(sentences) != 1 and len(whole) <= _WHOLE_TEXT_CHARS:
        sentences.append(whole)
    return [s for s in sentences if s] or [text]


def trained_classifier(path: Path = EXEMPLARS) -> ExemplarClassifier:
    """The classifier for an exemplar file: trained once per machine (minutes), loaded once per process."""
    return classifier_for(path)
