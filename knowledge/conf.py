"""The knowledge store's settings: one `KnowledgeSettings`, read from Django settings by `knowledge_settings()`.

Each field is the Django setting `KNOWLEDGE_<FIELD>`; its default is stated here only.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from pydantic import BaseModel, ConfigDict


class KnowledgeSettings(BaseModel):
    model_config = ConfigDict(
        alias_generator=lambda field: f"KNOWLEDGE_{field.upper()}", from_attributes=True, frozen=True
    )

    # Caps on an uploaded document: each refuses the file with its own error code.
    max_file_bytes: int = 20 * 1024 * 1024
    max_pages: int = 500
    max_characters: int = 2_000_000  # extracted text, all pages together
    extraction_seconds: float = 120.0  # checked between pages; the Celery task's hard limit is above it
    # DOCX and PPTX are zip archives: a zip bomb is refused before anything is decompressed.
    max_zip_entries: int = 5_000
    max_zip_uncompressed_bytes: int = 200 * 1024 * 1024
    max_zip_ratio: float = 200.0  # uncompressed / compressed of one entry; text XML compresses ~10×
    # Chunks are about this many tokens; consecutive chunks of a page share one passage.
    chunk_tokens: int = 300
    # Memory: two facts this similar (cosine of MiniLM embeddings) are the same fact.
    duplicate_similarity: float = 0.9
    # A remembered item below this similarity to the question is not relevant to it.
    memory_min_similarity: float = 0.15
    # Facts the model suggests about the same subject above this similarity are put to it for replacement.
    contradiction_similarity: float = 0.5
    # Dotted path of `f(text) -> bool`, the content guard's verdict on a memory a person edits in Settings
    # (True: it may be kept); "": the person's own words are kept unchecked.
    content_check: str = ""
    # Dotted path of `f(prompt) -> str`, the served model's completion, which reads facts from each exchange
    # (memory.EXTRACTION_PROMPT); "": no fact is taken from exchanges ("remember that …" still works).
    extraction_model: str = ""
    # A turn's prompt carries at most this many tokens of remembered facts, and of document passages
    # (each also at most a quarter of what the context window leaves beside the answer), before any
    # of the conversation's history is dropped.
    memory_prompt_tokens: int = 200
    document_prompt_tokens: int = 1200
    # A document passage scoring below this (retrieval.py's hybrid score, 0–1) is not relevant to the
    # question: "hello" is given no passages. Measured on benchmarks/knowledge.py's labelled questions.
    document_min_score: float = 0.2
    # Dotted path of the chat's owner-scoped conversation lookup, `f(*, user, conversation_id)`, which
    # raises not_found for a conversation that is not the user's: a file is attached only to one's own
    # chats. A path, so knowledge/ imports no assistant code; set here because a check left unset
    # would let anyone name any conversation.
    conversation_lookup: str = "assistant.chat.selectors.conversation_for"


@functools.cache
def knowledge_settings() -> KnowledgeSettings:
    """Read once per process, and again after a setting changes (tests)."""
    return KnowledgeSettings.model_validate(settings)


@receiver(setting_changed)
def _reread_settings(**kwargs: object) -> None:
    knowledge_settings.cache_clear()
