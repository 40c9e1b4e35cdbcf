"""Choosing the passages of the fetched pages that answer the question.

Pages are split into passages of about PASSAGE_CHARS. Each passage's score is the mean of its BM25
score (divided by the best one, so both parts weigh the same) and the cosine similarity of its
all-MiniLM-L6-v2 embedding with the question's. Only the best BM25 candidates and the opening
passages of each page are embedded, which bounds the cost of a long page.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Sequence

from model_service.sentence_encoder import SentenceEncoder, sentence_encoder
from search.conf import search_settings

PASSAGE_CHARS = 400
MAX_PASSAGES_PER_PAGE = 200  # beyond this a page's tail is not ranked
EMBEDDED_CANDIDATES = 12
OPENING_PASSAGES = 1
MAX_TOKENS = 128  # a passage of PASSAGE_CHARS is about 100 tokens; shorter batches embed faster
BM25_K1 = 1.5
BM25_B = 0.75
WORD = re.compile(r"\w+", re.UNICODE)
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def _pieces(paragraph: str) -> list[str]:
    """A paragraph, cut at sentence ends (or hard, for one endless sentence) into pieces of ≤ PASSAGE_CHARS."""
    pieces: list[str] = []
    for sentence in SENTENCE_END.split(paragraph):
        pieces.extend(sentence[i : i + PASSAGE_CHARS] for i in range(0, len(sentence), PASSAGE_CHARS))
    return pieces


def split_passages(text: str) -> list[str]:
    """Consecutive paragraphs and sentences joined into passages of about PASSAGE_CHARS, in page order."""
    passages: list[str] = []
    current = ""
    for paragraph in (" ".join(p.split()) for p in text.splitlines()):
        for piece in _pieces(paragraph) if paragraph else []:
            if current and len(current) + 1 + len(piece) > PASSAGE_CHARS:
                passages.append(current)
                current = ""
            current = f"{current} {piece}" if current else piece
    if current:
        passages.append(current)
    return passages[:MAX_PASSAGES_PER_PAGE]


class BM25:
    """Okapi BM25 over a fixed list of documents (here: passages)."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = BM25_K1, b: float = BM25_B) -> None:
        self.k1, self.b = k1, b
        self.term_counts = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.average_length = (sum(self.lengths) / len(documents)) if documents else 0.0
        frequency = Counter(term for counts in self.term_counts for term in counts)
        total = len(documents)
        self.idf = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) for term, n in frequency.items()}

    def score(self, query: Sequence[str], index: int) -> float:
        counts, length = self.term_counts[index], self.lengths[index]
        norm = self.k1 * (1 - self.b + self.b * length / (self.average_length or 1))
        return sum(
            self.idf[term] * counts[term] * (self.k1 + 1) / (counts[term] + norm)
            for term in set(query)
            if term in counts
        )

    def scores(self, query: Sequence[str]) -> list[float]:
        return [self.score(query, i) for i in range(len(self.term_counts))]


def embedder() -> SentenceEncoder:
    """all-MiniLM-L6-v2, loaded once per process from the files the package ships (never downloaded).
    A search worker starts loading it in a thread as it starts (search.tasks); a search that comes
    earlier waits for that load instead of starting a second one. SEARCH_EMBEDDING_THREADS threads a
    call: with several processes on few cores, more contend."""
    with _loading:
        return sentence_encoder(max_tokens=MAX_TOKENS, threads=search_settings().embedding_threads)


_loading = threading.Lock()


def cosine_similarities(question: str, passages: Sequence[str]) -> list[float]:
    vectors = embedder().encode([question, *passages])
    return [float(v) for v in vectors[1:] @ vectors[0]]


def _candidates(lexical: list[float], openings: set[int]) -> list[int]:
    best = sorted(range(len(lexical)), key=lambda i: -lexical[i])[:EMBEDDED_CANDIDATES]
    return sorted(set(best) | openings)


def score_passages(question: str, passages: Sequence[str], openings: set[int] = frozenset()) -> list[float]:
    """One score per passage (0 for those not among the candidates); higher answers the question better."""
    if not passages:
        return []
    lexical = BM25([words(p) for p in passages]).scores(words(question))
    top = max(lexical) or 1.0
    chosen = _candidates(lexical, set(openings))
    similarities = cosine_similarities(question, [passages[i] for i in chosen])
    scores = [0.0] * len(passages)
    for index, similarity in zip(chosen, similarities, strict=True):
        scores[index] = 0.5 * lexical[index] / top + 0.5 * max(similarity, 0.0)
    return scores


def best_text(passages: Sequence[str], scores: Sequence[float], limit: int) -> str:
    """The best-scoring passages that fit in `limit` characters, in page order, joined by blank lines."""
    chosen: list[int] = []
    used = 0
    for index in sorted(range(len(passages)), key=lambda i: -scores[i]):
        cost = len(passages[index]) + (2 if chosen else 0)
        if used + cost <= limit:
            chosen.append(index)
            used += cost
    if not chosen and passages:
        return passages[0][:limit]
    return "\n\n".join(passages[i] for i in sorted(chosen))


def opening_text(passages: Sequence[str], limit: int) -> str:
    """The page's first passages, as many as fit in `limit` characters (at least the start of the first)."""
    taken: list[str] = []
    for passage in passages:
        if sum(len(p) + 2 for p in taken) + len(passage) > limit:
            break
        taken.append(passage)
    return "\n\n".join(taken) if taken else (passages[0][:limit] if passages else "")


def select_passages(question: str, texts: Sequence[str], limit: int) -> list[str]:
    """For each page text, its passages that best answer `question`, at most `limit` characters each.

    All pages are ranked together, so BM25's word weights come from every page of the answer.
    With no question, each page keeps its opening passages."""
    per_page = [split_passages(text) for text in texts]
    if not question.strip():
        return [opening_text(passages, limit) for passages in per_page]
    flat = [passage for passages in per_page for passage in passages]
    starts = [sum(len(p) for p in per_page[:i]) for i in range(len(per_page))]
    openings = {
        start + k
        for start, passages in zip(starts, per_page, strict=True)
        for k in range(min(OPENING_PASSAGES, len(passages)))
    }
    scores = score_passages(question, flat, openings)
    return [
        best_text(passages, scores[start : start + len(passages)], limit)
        for start, passages in zip(starts, per_page, strict=True)
    ]
