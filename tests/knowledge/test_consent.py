"""Consent for sensitive facts: a fact noticed in an exchange (health, religion…) is stored nowhere; the
worker's result carries a signed question, and only the person's yes (`POST /api/memory` with its
token) keeps it, with the provenance of the exchange. The turn that sends the question to the page
and the messaging note: tests/assistant/test_knowledge_turns.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from django.core import signing
from django.test import Client
from pytest_django.fixtures import Settings

from assistant.models import User
from knowledge import memory, tasks
from knowledge.models import MemoryItem

FACTS = json.dumps(
    [
        {"fact": "Has type 1 diabetes.", "subject": "health", "category": "health"},
        {"fact": "Lives in Porto.", "subject": "home city", "category": "none"},
    ]
)


def noticing_model(_prompt: str) -> str:
    """The served model reading an exchange in which the person mentioned their diabetes and city."""
    return FACTS


def allowing_guard(_text: str) -> bool:
    return True


def refusing_guard(_text: str) -> bool:
    return False


@pytest.fixture
def extraction(settings: Settings) -> None:
    """Facts taken from exchanges by the model above; the content guard's verdicts are the tests' own."""
    settings.KNOWLEDGE_EXTRACTION_MODEL = f"{__name__}.noticing_model"
    settings.KNOWLEDGE_CONTENT_CHECK = f"{__name__}.allowing_guard"


def read_exchange(owner: User) -> memory.ExchangeMemory:
    """The `remember_exchange` task's body, run here: message 41 of conversation 7, on the web."""
    result = tasks.remember_exchange(owner.pk, 41, "web", "I'm diabetic and live in Porto.", "Noted.", 7)
    return memory.ExchangeMemory.model_validate(result)


def keep(client: Client, token: str) -> dict:
    response = client.post("/api/memory", json.dumps({"token": token}), "application/json")
    return {"status": response.status_code, **response.json()}


def test_a_sensitive_fact_is_asked_about_and_stored_nowhere(owner: User, extraction: None) -> None:
    news = read_exchange(owner)
    assert [item.text for item in news.kept] == ["Lives in Porto."]
    [asked] = news.ask
    assert asked.text == "Has type 1 diabetes."
    assert list(MemoryItem.objects.values_list("text", flat=True)) == ["Lives in Porto."]
    assert "diabetes" not in json.dumps(list(MemoryItem.objects.values("text", "subject")))


def test_yes_keeps_the_fact_with_the_provenance_of_its_exchange(
    owner: User, extraction: None, client_of: Callable[[User], Client]
) -> None:
    [asked] = read_exchange(owner).ask
    kept = keep(client_of(owner), asked.token)
    assert kept["status"] == 201
    assert (kept["text"], kept["sensitive_category"]) == ("Has type 1 diabetes.", "health")
    source = kept["source"]
    assert (source["channel"], source["message_id"], source["conversation_id"]) == ("web", 41, 7)
    item = MemoryItem.objects.get(pk=kept["id"])
    assert (item.owner_id, item.source_conversation_id) == (owner.pk, 7)

    again = keep(client_of(owner), asked.token)  # a second yes finds it kept: nothing is stored twice
    assert (again["status"], again["id"]) == (201, kept["id"])
    assert MemoryItem.objects.filter(owner=owner).count() == 2


def test_the_rest_lists_where_each_fact_was_said(
    owner: User, extraction: None, client_of: Callable[[User], Client]
) -> None:
    read_exchange(owner)
    [item] = client_of(owner).get("/api/memory").json()["items"]
    assert item["source"] == {
        "channel": "web",
        "message_id": 41,
        "conversation_id": 7,
        "at": item["source"]["at"],
    }


class _LongAgo(signing.TimestampSigner):
    """Signs as it would have just before the answer's time ran out."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - memory.CONSENT_SECONDS - 1)


def test_a_token_that_is_forged_expired_or_anothers_keeps_nothing(
    owner: User, stranger: User, extraction: None, client_of: Callable[[User], Client]
) -> None:
    [asked] = read_exchange(owner).ask
    question = signing.loads(asked.token, salt=memory.CONSENT_SALT)
    expired = _LongAgo(salt=memory.CONSENT_SALT).sign_object(question, compress=True)
    forged = signing.dumps({**question, "owner": stranger.pk}, salt="another.salt", compress=True)
    for client, token in (
        (client_of(stranger), asked.token),
        (client_of(owner), expired),
        (client_of(stranger), forged),
        (client_of(owner), asked.token[:-2]),
    ):
        refused = keep(client, token)
        assert (refused["status"], refused["error"]["code"]) == (404, "not_found")
    assert not MemoryItem.objects.filter(text="Has type 1 diabetes.").exists()


def test_memory_off_or_a_guard_that_now_refuses_keeps_nothing(
    owner: User, extraction: None, client_of: Callable[[User], Client], settings: Settings
) -> None:
    [asked] = read_exchange(owner).ask
    memory.set_enabled(owner_id=owner.pk, enabled=False)
    off = keep(client_of(owner), asked.token)
    assert (off["status"], off["error"]["code"]) == (403, "forbidden")
    memory.set_enabled(owner_id=owner.pk, enabled=True)
    settings.KNOWLEDGE_CONTENT_CHECK = f"{__name__}.refusing_guard"
    blocked = keep(client_of(owner), asked.token)
    assert (blocked["status"], blocked["error"]["code"]) == (422, "blocked")
    assert not MemoryItem.objects.filter(text="Has type 1 diabetes.").exists()


def test_a_body_without_a_token_is_refused(owner: User, client_of: Callable[[User], Client]) -> None:
    response = client_of(owner).post("/api/memory", json.dumps({"text": "Is Catholic."}), "application/json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_frame")
