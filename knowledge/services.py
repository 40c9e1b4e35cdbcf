"""Every write and read of documents, scoped to their owner (another user's id is `not_found`)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import QuerySet

from core.errors import AssistantError, ErrorCode
from knowledge import documents, embeddings
from knowledge.conf import knowledge_settings
from knowledge.models import Document, DocumentChunk
from knowledge.tokens import TokenCounter, llama3_tokens

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 255
EXTRACTED_PERCENT = 20  # progress once the text is out; embedding the chunks is the rest


def create_document(*, owner_id: int, name: str, data: bytes, conversation_id: int | None = None) -> Document:
    """Store an upload as `pending` after the checks that need no parsing (size, type, zip bomb);
    the caller queues `knowledge.tasks.extract_document` for the rest."""
    caps = knowledge_settings()
    if len(data) > caps.max_file_bytes:
        raise AssistantError(ErrorCode.FILE_TOO_LARGE, f"The file is larger than {caps.max_file_bytes // 2**20} MB.")
    media_type = documents.sniff(data, name, caps)
    return Document.objects.create(
        owner_id=owner_id,
        conversation_id=conversation_id,
        name=name[:MAX_NAME_CHARS] or "document",
        media_type=media_type,
        size=len(data),
        content=data,
    )


def document_list(*, owner_id: int, conversation_id: int | None = None) -> QuerySet[Document]:
    found = Document.objects.filter(owner_id=owner_id).defer("content")
    return found if conversation_id is None else found.filter(conversation_id=conversation_id)


def document_for(*, owner_id: int, document_id: int) -> Document:
    try:
        return document_list(owner_id=owner_id).get(pk=document_id)
    except Document.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, "There is no such document.") from None


def delete_document(*, owner_id: int, document_id: int) -> None:
    """The document and its chunks (a task still extracting it finds it gone and stops)."""
    document_for(owner_id=owner_id, document_id=document_id).delete()


def delete_conversation_documents(*, owner_id: int, conversation_id: int) -> None:
    """The files attached to a conversation that is not kept (a temporary chat)."""
    Document.objects.filter(owner_id=owner_id, conversation_id=conversation_id).delete()


def process_document(document_id: int, count_tokens: TokenCounter = llama3_tokens) -> Document.Status | None:
    """Extract, chunk, embed and store one pending document, saving progress on the way. Safe to run
    twice (a redelivered task): a document no longer pending is left alone. None: it was deleted."""
    document = Document.objects.filter(pk=document_id, status=Document.Status.PENDING).first()
    if document is None:
        return None
    try:
        extracted = documents.extract(bytes(document.content), document.name)
    except AssistantError as exc:
        return fail_document(document_id, exc)
    _save_progress(document_id, EXTRACTED_PERCENT, pages=len(extracted.pages))
    chunks = documents.chunk_pages(extracted.pages, count_tokens, knowledge_settings().chunk_tokens)
    vectors = _embed_with_progress(document_id, [chunk.text for chunk in chunks])
    with transaction.atomic():
        if not Document.objects.select_for_update().filter(pk=document_id).exists():
            return None
        DocumentChunk.objects.filter(document_id=document_id).delete()
        DocumentChunk.objects.bulk_create(
            DocumentChunk(
                document_id=document_id,
                page=chunk.page,
                ordinal=chunk.ordinal,
                text=chunk.text,
                tokens=chunk.tokens,
                embedding=embeddings.to_bytes(vector),
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        )
        _finish(document_id, status=Document.Status.READY)
    return Document.Status.READY


def fail_document(document_id: int, error: AssistantError) -> Document.Status:
    logger.info("document %s refused: %s", document_id, error.code)
    _finish(document_id, status=Document.Status.FAILED, error_code=error.code, error_detail=error.detail[:300])
    return Document.Status.FAILED


def _embed_with_progress(document_id: int, texts: list[str]) -> list:
    vectors = []
    for start in range(0, len(texts), embeddings.BATCH):
        vectors.extend(embeddings.embed(texts[start : start + embeddings.BATCH]))
        done = (start + embeddings.BATCH) / len(texts)
        _save_progress(document_id, EXTRACTED_PERCENT + int((99 - EXTRACTED_PERCENT) * min(done, 1.0)))
    return vectors


def _save_progress(document_id: int, percent: int, **fields: int) -> None:
    Document.objects.filter(pk=document_id, status=Document.Status.PENDING).update(progress=percent, **fields)


def _finish(document_id: int, **fields: str) -> None:
    """The final state; the uploaded bytes are no longer needed."""
    Document.objects.filter(pk=document_id).update(progress=100, content=b"", **fields)
