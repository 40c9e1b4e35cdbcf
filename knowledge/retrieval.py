"""The passages of a person's documents that answer a question, within a token budget.

Scores follow search/ranking.py: BM25 over the chunks (divided by the best, so both parts weigh the
same) averaged with the cosine similarity of the question's MiniLM embedding and the chunk's stored
one. Stored embeddings make every chunk a candidate: one matrix product, no re-embedding."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from knowledge import embeddings
from knowledge.models import Document, DocumentChunk
from search import ranking


class Ranking(StrEnum):
    HYBRID = "hybrid"
    BM25 = "bm25"  # words only, for comparison (benchmarks/knowledge.py)
    EMBEDDINGS = "embeddings"  # meaning only, for comparison


@dataclass(frozen=True)
class Passage:
    document_id: int
    document_name: str
    page: int
    text: str
    tokens: int
    score: float


def document_passages(
    *,
    owner_id: int,
    question: str,
    token_budget: int,
    conversation_id: int | None = None,
    ranking_mode: Ranking = Ranking.HYBRID,
    question_vector: embeddings.Embedded | None = None,
) -> list[Passage]:
    """Best first, as many as fit in `token_budget` (chunk token counts were stored at extraction).
    With `conversation_id`, only that conversation's documents; otherwise all the person's ready ones.
    `question_vector`: the question's embedding when the caller already has it (or will compute it once)."""
    chunks = _ready_chunks(owner_id, conversation_id)
    if not chunks or not question.strip():
        return []
    scores = _scores(question, chunks, ranking_mode, question_vector or embeddings.embedded(question))
    chosen: list[Passage] = []
    used = 0
    for index in np.argsort(-scores, kind="stable"):
        chunk = chunks[index]
        if scores[index] <= 0 or used + chunk.tokens > token_budget:
            continue
        used += chunk.tokens
        chosen.append(
            Passage(chunk.document_id, chunk.document.name, chunk.page, chunk.text, chunk.tokens, float(scores[index]))
        )
    return chosen


def _ready_chunks(owner_id: int, conversation_id: int | None) -> list[DocumentChunk]:
    found = DocumentChunk.objects.filter(document__owner_id=owner_id, document__status=Document.Status.READY)
    if conversation_id is not None:
        found = found.filter(document__conversation_id=conversation_id)
    return list(found.select_related("document").only("document__name", "page", "text", "tokens", "embedding"))


def _scores(
    question: str, chunks: list[DocumentChunk], mode: Ranking, question_vector: embeddings.Embedded
) -> np.ndarray:
    lexical = np.array(ranking.BM25([ranking.words(c.text) for c in chunks]).scores(ranking.words(question)))
    lexical = lexical / (lexical.max() or 1.0)
    if mode is Ranking.BM25:
        return lexical
    similarity = np.maximum(embeddings.matrix([c.embedding for c in chunks]) @ question_vector(), 0.0)
    return similarity if mode is Ranking.EMBEDDINGS else 0.5 * lexical + 0.5 * similarity
