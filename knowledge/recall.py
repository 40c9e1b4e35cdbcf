"""What one turn's prompt is given from the knowledge store: the person's memories related to the
question and the best passages of the conversation's documents, read together in one trip to a
database thread, the question embedded at most once (not at all when nothing is stored)."""

from __future__ import annotations

from dataclasses import dataclass, field

from knowledge import embeddings
from knowledge.memory import relevant_memories
from knowledge.retrieval import Passage, document_passages


@dataclass(frozen=True)
class Memory:
    id: int
    text: str


@dataclass(frozen=True)
class Recalled:
    memories: list[Memory] = field(default_factory=list)  # best first
    passages: list[Passage] = field(default_factory=list)  # best first


def recall(
    *,
    owner_id: int,
    memory: bool,
    question: str,
    conversation_id: int,
    memory_tokens: int,
    passage_tokens: int,
) -> Recalled:
    """Facts of `owner_id`'s memory (`memory` off: none are read) and passages of the files
    `owner_id` attached to this conversation. Budgets are in Llama 3 tokens (counted at extraction
    for passages); the caller fits the result to its own model's exact counts."""
    vector = embeddings.embedded(question)
    memories = (
        relevant_memories(person_id=owner_id, question=question, token_budget=memory_tokens, question_vector=vector)
        if memory and memory_tokens > 0
        else []
    )
    passages = (
        document_passages(
            owner_id=owner_id,
            question=question,
            token_budget=passage_tokens,
            conversation_id=conversation_id,
            question_vector=vector,
        )
        if passage_tokens > 0
        else []
    )
    return Recalled([Memory(item.pk, item.text) for item in memories], passages)
