"""The passages of a person's documents that answer a question, within a token budget.

Scores follow search/ranking.py: BM25 over the chunks averaged with the cosine similarity of the
question's MiniLM embedding and the chunk's stored one. Stored embeddings make every chunk a
candidate: one matrix product, no re-embedding.

Unlike search's, the BM25 part is divided by the most the question's words could score (each word,
found or not, at its BM25 ceiling), not by the best chunk's score: divided by the best, the chunk
that shares only "what" or "the" with "what's 2+2" gets a full lexical half, and unrelated
questions scored like real ones (up to 0.68; the right pages from 0.27, on benchmarks/knowledge.py).
Against the ceiling, a score means the same whatever the question, so a floor
(KNOWLEDGE_DOCUMENT_MIN_SCORE) can tell "not about these files" apart."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from knowledge import embeddings
from knowledge.conf import knowledge_settings
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
    min_score: float | None = None,
) -> list[Passage]:
    """Best first, as many as fit in `token_budget` (chunk token counts were stored at extraction).
    With `conversation_id`, only that conversation's documents; otherwise all the person's ready ones.
    `question_vector`: the question's embedding when the caller already has it (or will compute it once).
    `min_score`: passages scoring less are not relevant to the question (None: the hybrid ranking's
    KNOWLEDGE_DOCUMENT_MIN_SCORE; the comparison modes' scales differ, so they have none)."""
    chunks = _ready_chunks(owner_id, conversation_id)
    if not chunks or not question.strip():
        return []
    scores = _scores(question, chunks, ranking_mode, question_vector or embeddings.embedded(question))
    if min_score is None:
        min_score = knowledge_settings().document_min_score if ranking_mode is Ranking.HYBRID else 0.0
    chosen: list[Passage] = []
    used = 0
    for index in np.argsort(-scores, kind="stable"):
        chunk = chunks[index]
        if scores[index] <= 0 or scores[index] < min_score or used + chunk.tokens > token_budget:
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
    bm25 = ranking.BM25([ranking.words(c.text) for c in chunks])
    lexical = np.array(bm25.scores(ranking.words(question))) / _lexical_ceiling(bm25, question, len(chunks))
    if mode is Ranking.BM25:
        return lexical
    similarity = np.maximum(embeddings.matrix([c.embedding for c in chunks]) @ question_vector(), 0.0)
    return similarity if mode is Ranking.EMBEDDINGS else 0.5 * lexical + 0.5 * similarity


def _lexical_ceiling(bm25: ranking.BM25, question: str, chunk_count: int) -> float:
    """The most any chunk could score for `question`: BM25 of each distinct word tends to
    idf × (k1 + 1) as the word repeats. A word no chunk holds counts at the idf it would have, so
    a question whose telling words are absent scores low even where its common words are found."""
    unseen_idf = np.log(1 + (chunk_count + 0.5) / 0.5)
    ceiling = sum(bm25.idf.get(word, unseen_idf) for word in set(ranking.words(question))) * (bm25.k1 + 1)
    return ceiling or 1.0
