"""Documents stored through the extraction task's body, then asked about: the passage that answers
comes back with its document and page, within the token budget, and only from the asker's documents."""

from __future__ import annotations

import pytest

from assistant.models import User
from core.errors import ErrorCode
from knowledge import services
from knowledge.models import Document, DocumentChunk
from knowledge.retrieval import Ranking, document_passages
from tests.knowledge.builders import pdf_bytes
from tests.knowledge.conftest import ANSWER_QUESTION, ready_document


@pytest.mark.parametrize("kind", ["pdf", "docx", "pptx"])
def test_answer_on_page_three_is_cited_as_page_three(owner: User, kind: str) -> None:
    document = ready_document(owner, kind)
    assert (document.pages, document.progress, document.content) == (4, 100, b"")
    best = document_passages(owner_id=owner.pk, question=ANSWER_QUESTION, token_budget=500)[0]
    assert (best.document_name, best.page) == (f"report.{kind}", 3)
    assert "Marmalade" in best.text


@pytest.mark.parametrize("mode", list(Ranking))
def test_every_ranking_mode_finds_the_page(owner: User, mode: Ranking) -> None:
    ready_document(owner, "pdf")
    best = document_passages(owner_id=owner.pk, question=ANSWER_QUESTION, token_budget=500, ranking_mode=mode)[0]
    assert best.page == 3


@pytest.mark.parametrize("question", ["hello", "what's 2+2", "What is the capital of France?", "Tell me a joke."])
def test_a_question_about_none_of_the_files_gets_no_passages(owner: User, question: str) -> None:
    ready_document(owner, "pdf")
    assert document_passages(owner_id=owner.pk, question=question, token_budget=500) == []
    # The floor is what leaves them out: without it the best chunk still scores above zero.
    assert document_passages(owner_id=owner.pk, question=question, token_budget=500, min_score=0.0) != []


def test_the_floor_is_a_setting(owner: User, settings) -> None:
    ready_document(owner, "pdf")
    [best, *_] = document_passages(owner_id=owner.pk, question=ANSWER_QUESTION, token_budget=500)
    settings.KNOWLEDGE_DOCUMENT_MIN_SCORE = best.score + 0.01
    assert document_passages(owner_id=owner.pk, question=ANSWER_QUESTION, token_budget=500) == []
    settings.KNOWLEDGE_DOCUMENT_MIN_SCORE = 0.0
    assert len(document_passages(owner_id=owner.pk, question="hello", token_budget=500)) >= 1


def test_passages_fit_the_token_budget(owner: User) -> None:
    ready_document(owner, "pdf")
    tokens = sorted(DocumentChunk.objects.values_list("tokens", flat=True))
    budget = tokens[0] + tokens[1]
    passages = document_passages(owner_id=owner.pk, question="harbour pilots cat budget ships", token_budget=budget)
    assert 1 <= len(passages) < len(tokens)
    assert sum(p.tokens for p in passages) <= budget
    assert document_passages(owner_id=owner.pk, question=ANSWER_QUESTION, token_budget=tokens[0] - 1) == []


def test_only_the_askers_and_the_conversations_documents_are_searched(owner: User, stranger: User) -> None:
    ready_document(stranger, "pdf")
    assert document_passages(owner_id=owner.pk, question=ANSWER_QUESTION, token_budget=500) == []
    ready_document(owner, "docx", conversation_id=7)
    assert document_passages(owner_id=owner.pk, question=ANSWER_QUESTION, token_budget=500, conversation_id=8) == []
    in_chat = document_passages(owner_id=owner.pk, question=ANSWER_QUESTION, token_budget=500, conversation_id=7)
    assert in_chat[0].page == 3


def test_encrypted_pdf_fails_with_its_code_and_is_never_searched(owner: User) -> None:
    document = services.create_document(owner_id=owner.pk, name="locked.pdf", data=pdf_bytes(["x"], password="pw"))
    assert services.process_document(document.pk) == Document.Status.FAILED
    document.refresh_from_db()
    assert (document.status, document.error_code, document.progress) == ("failed", ErrorCode.ENCRYPTED_FILE, 100)
    assert "password" in document.error_detail
    assert services.process_document(document.pk) is None  # a redelivered task leaves it alone


def test_deleting_a_document_or_its_owner_deletes_its_chunks(owner: User) -> None:
    first = ready_document(owner, "pdf")
    ready_document(owner, "pptx")
    services.delete_document(owner_id=owner.pk, document_id=first.pk)
    assert not DocumentChunk.objects.filter(document_id=first.pk).exists()
    owner.delete()
    assert not Document.objects.exists()
    assert not DocumentChunk.objects.exists()
