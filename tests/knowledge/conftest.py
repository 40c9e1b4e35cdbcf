from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from assistant.chat.services import create_guest
from assistant.models import User
from knowledge import services
from knowledge.models import Document
from tests.knowledge.builders import docx_bytes, pdf_bytes, pptx_bytes

# Page 3 of every test document holds the answer to ANSWER_QUESTION; the other pages are about other things.
PAGES = [
    "Quarterly report of the harbour authority.\nShips handled: 412. Cargo volume rose by eight percent.",
    "Staff and training.\nNew pilots completed the night navigation course in March.",
    "The lighthouse.\nThe lighthouse keeper's cat is called Marmalade and sleeps by the lamp room stove.",
    "Budget.\nDredging the eastern channel will cost 2.4 million euros next year.",
]
ANSWER_QUESTION = "What is the name of the lighthouse keeper's cat?"
BUILDERS: dict[str, Callable[[list[str]], bytes]] = {"pdf": pdf_bytes, "docx": docx_bytes, "pptx": pptx_bytes}


@pytest.fixture
def owner(db) -> User:
    return create_guest()


@pytest.fixture
def stranger(db) -> User:
    return create_guest()


@pytest.fixture
def client_of(db) -> Callable[[User], Client]:
    def signed_in(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return signed_in


def ready_document(owner: User, kind: str, pages: list[str] = PAGES, conversation_id: int | None = None) -> Document:
    """A document uploaded and extracted (the task's body, run here)."""
    document = services.create_document(
        owner_id=owner.pk, name=f"report.{kind}", data=BUILDERS[kind](pages), conversation_id=conversation_id
    )
    assert services.process_document(document.pk) == Document.Status.READY
    return Document.objects.get(pk=document.pk)
