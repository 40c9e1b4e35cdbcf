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


def document_for(*, owner_id: int, document_id: int, for_update: bool = False) -> Document:
    """`for_update`: the row locked until the caller's transaction ends."""
    found = document_list(owner_id=owner_id)
    try:
        return (found.select_for_update() if for_update else found).get(pk=document_id)
    except Document.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, "There is no such document.") from None


def attach_document(*, owner_id: int, document_id: int, conversation_id: int) -> Document:
    """One of the person's ready files made available in a conversation without reading it again: a
    copy of the document and its chunks (embeddings included), so deleting the conversation or the
    original takes only its own copy. Attaching the same file twice answers the conversation's copy.
    The caller has checked that the conversation is the person's."""
    with transaction.atomic():
        # Locked so that two attaches of one file to one conversation cannot both copy it.
        source = document_for(owner_id=owner_id, document_id=document_id, for_update=True)
        if source.status != Document.Status.READY:
            raise AssistantError(ErrorCode.DOCUMENT_NOT_READY, _not_ready_detail(source))
        if source.conversation_id == conversation_id:
            return source
        return _same_file(source, conversation_id) or _copy(source, conversation_id)


def _not_ready_detail(document: Document) -> str:
    if document.status == Document.Status.PENDING:
        return f"“{document.name}” is still being read: use it once it is ready."
    return f"“{document.name}” could not be read, so it cannot be used in a chat."


def _same_file(source: Document, conversation_id: int) -> Document | None:
    """The conversation's copy of `source`, or the same file uploaded there (the model keeps no link
    to the original: name, type and size say it is the same file)."""
    return (
        document_list(owner_id=source.owner_id, conversation_id=conversation_id)
        .filter(name=source.name, media_type=source.media_type, size=source.size)
        .exclude(status=Document.Status.FAILED)
        .first()
    )


def _copy(source: Document, conversation_id: int) -> Document:
    copy = Document.objects.create(
        owner_id=source.owner_id,
        conversation_id=conversation_id,
        name=source.name,
        media_type=source.media_type,
        size=source.size,
        pages=source.pages,
        status=Document.Status.READY,
        progress=100,
        content=b"",
    )
    DocumentChunk.objects.bulk_create(
        DocumentChunk(
            document=copy, page=c.page, ordinal=c.ordinal, text=c.text, tokens=c.tokens, embedding=c.embedding
        )
        for c in source.chunks.all()
    )
    return copy


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
