"""What the assistant remembers about a person: facts with where they were said, that the person
can list, edit, delete, clear, and switch off.

Storing a fact (`remember`) goes through, in order:
1. the switch: memory off stores nothing;
2. the content guard (`content_check`, given by the caller): a fact it refuses is not kept, and an
   exchange whose turn was blocked is not read at all;
3. consent: a fact in a sensitive category (health, religion, sexuality…) is kept only when the
   person said so; otherwise the caller is told to ask;
4. contradiction: a fact about a subject already known replaces the old one. The subject is a short
   normalised key the extraction prompt asks for ("home city"), so "moved to Porto" replaces "lives
   in Lisbon" deterministically. When the keys differ but the facts are close in meaning, and the
   caller gave a model, the model is asked (a project-owned prompt, JSON validated) whether the new
   fact replaces one of them; any answer that does not validate keeps both;
5. duplication: a fact whose embedding is within `duplicate_similarity` of a stored one is not stored again.

A sensitive fact noticed in an exchange is not stored to be asked about: the question carries it in a
signed token (`consent_token`), and only the person's yes (`remember_consented`) stores it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

import numpy as np
from django.core import signing
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from core.errors import AssistantError, ErrorCode
from knowledge import embeddings
from knowledge.conf import knowledge_settings
from knowledge.linking import memory_owner_in_sql
from knowledge.models import MemoryItem, MemorySettings, SensitiveCategory
from knowledge.tokens import TokenCounter, llama3_tokens

ModelCall = Callable[[str], str]  # a prompt → the served model's completion text
ContentCheck = Callable[[str], bool]  # the content guard's verdict on a text: True when it may be kept
MAX_FACT_CHARS = 300
MAX_FACTS_PER_EXCHANGE = 5
CANDIDATES_FOR_THE_MODEL = 3
JSON_ARRAY = re.compile(r"\[.*\]", re.DOTALL)
JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
CONSENT_SALT = "knowledge.memory.consent"
# How long the person may take to answer "Remember that …?"; the page that asked is usually still open.
CONSENT_SECONDS = 24 * 3600

EXTRACTION_PROMPT = """You keep a short memory of lasting facts about the user of an assistant.
Read the exchange below and list the facts about the user worth remembering for later conversations:
where they live, their work, family, preferences, plans. Ignore passing requests, questions, facts
about other people or the world, and anything the assistant said about itself.

For each fact give:
- "fact": one sentence in the third person ("Lives in Porto."), at most 300 characters;
- "subject": what the fact is about, two or three lowercase words ("home city", "job", "diet");
  a later fact with the same subject replaces this one;
- "category": "none", or one of health, religion, sexuality, politics, ethnicity, union, biometric,
  criminal when the fact reveals one of these.

Answer with a JSON array only, [] when there is nothing to remember.

User: {user_text}
Assistant: {answer_text}
JSON:"""

REPLACEMENT_PROMPT = """A memory about the user holds these facts:
{numbered}
A new fact arrives: "{fact}"
Does the new fact make one of them untrue or out of date (the user moved, changed jobs, changed their
mind)? Answer with JSON only: {{"replaces": <the number of that fact>}} or {{"replaces": null}}.
JSON:"""


class Outcome(StrEnum):
    STORED = "stored"
    REPLACED = "replaced"
    DUPLICATE = "duplicate"
    NEEDS_CONSENT = "needs_consent"  # sensitive: ask the person before keeping it
    BLOCKED = "blocked"  # the content guard refused it
    MEMORY_OFF = "memory_off"


class Fact(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    fact: Annotated[str, StringConstraints(min_length=1, max_length=MAX_FACT_CHARS)]
    subject: Annotated[str, StringConstraints(max_length=100, to_lower=True)] = ""
    category: Literal["none", *SensitiveCategory.values] = "none"

    @property
    def sensitive_category(self) -> str:
        return "" if self.category == "none" else self.category


class _Replacement(BaseModel):
    replaces: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class Source:
    """Where a fact was said: a channel of the product (`web`, `api`, `whatsapp`… or `settings`), the
    message and the conversation."""

    channel: str
    message_id: int | None = None
    at: datetime | None = None
    conversation_id: int | None = None


@dataclass(frozen=True)
class Remembered:
    outcome: Outcome
    fact: Fact
    item: MemoryItem | None = None
    replaced_text: str = ""


class KeptItem(BaseModel):
    id: int  # the item in `/api/memory`
    text: str


class ConsentAsk(BaseModel):
    """A sensitive fact noticed in the exchange, not stored: the person is asked whether to keep it."""

    text: str
    token: str  # memory.consent_token: sent back to keep it


class ExchangeMemory(BaseModel):
    """What `remember_exchange` did with one exchange (its JSON result)."""

    kept: list[KeptItem] = []
    ask: list[ConsentAsk] = []


def configured_content_check() -> ContentCheck:
    """The content guard named by KNOWLEDGE_CONTENT_CHECK; unset, every text may be kept."""
    path = knowledge_settings().content_check
    return import_string(path) if path else lambda _text: True


def configured_model() -> ModelCall | None:
    """The served model named by KNOWLEDGE_EXTRACTION_MODEL; None when facts are not taken from exchanges."""
    path = knowledge_settings().extraction_model
    return import_string(path) if path else None


# --- the switch --------------------------------------------------------------------------------


def is_enabled(*, owner_id: int) -> bool:
    return not MemorySettings.objects.filter(owner_id=owner_id, enabled=False).exists()


def set_enabled(*, owner_id: int, enabled: bool) -> None:
    MemorySettings.objects.update_or_create(owner_id=owner_id, defaults={"enabled": enabled})


# --- extraction --------------------------------------------------------------------------------


def extraction_prompt(user_text: str, answer_text: str) -> str:
    return EXTRACTION_PROMPT.format(user_text=user_text.strip(), answer_text=answer_text.strip())


def parse_facts(completion: str) -> list[Fact]:
    """The facts of a model's answer; malformed output gives none (a model may ramble around its JSON)."""
    found = JSON_ARRAY.search(completion)
    if found is None:
        return []
    try:
        items = json.loads(found.group())
    except json.JSONDecodeError:
        return []
    if not isinstance(items, list):
        return []
    facts: list[Fact] = []
    for item in items[:MAX_FACTS_PER_EXCHANGE]:
        try:
            facts.append(Fact.model_validate(item))
        except ValidationError:
            continue
    return facts


def remember_exchange(
    *,
    owner_id: int,
    user_text: str,
    answer_text: str,
    blocked: bool,
    source: Source,
    model: ModelCall,
    content_check: ContentCheck,
) -> list[Remembered]:
    """What one exchange teaches about the person, stored. A blocked turn, or memory off, asks no model."""
    if blocked or not is_enabled(owner_id=owner_id):
        return []
    facts = parse_facts(model(extraction_prompt(user_text, answer_text)))
    return [
        remember(owner_id=owner_id, fact=fact, source=source, content_check=content_check, model=model)
        for fact in facts
    ]


# --- storing -----------------------------------------------------------------------------------


def remember(
    *,
    owner_id: int,
    fact: Fact,
    source: Source,
    content_check: ContentCheck,
    consented: bool = False,
    model: ModelCall | None = None,
) -> Remembered:
    """Store one fact through the steps of this module's docstring."""
    if not is_enabled(owner_id=owner_id):
        return Remembered(Outcome.MEMORY_OFF, fact)
    if not content_check(fact.fact):
        return Remembered(Outcome.BLOCKED, fact)
    if fact.sensitive_category and not consented:
        return Remembered(Outcome.NEEDS_CONSENT, fact)
    vector = embeddings.embed([fact.fact])[0]
    with transaction.atomic():
        known = list(MemoryItem.objects.select_for_update().filter(owner_id=owner_id))
        old = _contradicted(fact, vector, known, model)
        if old is not None:
            replaced_text = old.text
            _write(old, fact, vector, source)
            return Remembered(Outcome.REPLACED, fact, old, replaced_text)
        similar = _most_similar(vector, known)
        if similar is not None and similar[1] >= knowledge_settings().duplicate_similarity:
            return Remembered(Outcome.DUPLICATE, fact, similar[0])
        item = _write(MemoryItem(owner_id=owner_id), fact, vector, source)
        return Remembered(Outcome.STORED, fact, item)


def _write(item: MemoryItem, fact: Fact, vector: np.ndarray, source: Source) -> MemoryItem:
    item.text = fact.fact
    item.subject = fact.subject
    item.sensitive_category = fact.sensitive_category
    item.embedding = embeddings.to_bytes(vector)
    item.source_channel = source.channel
    item.source_message_id = source.message_id
    item.source_conversation_id = source.conversation_id
    item.source_time = source.at or timezone.now()
    item.save()
    return item


def _similarities(vector: np.ndarray, known: list[MemoryItem]) -> np.ndarray:
    return embeddings.matrix([item.embedding for item in known]) @ vector if known else np.zeros(0)


def _most_similar(vector: np.ndarray, known: list[MemoryItem]) -> tuple[MemoryItem, float] | None:
    similarities = _similarities(vector, known)
    if not known:
        return None
    best = int(np.argmax(similarities))
    return known[best], float(similarities[best])


def _contradicted(
    fact: Fact, vector: np.ndarray, known: list[MemoryItem], model: ModelCall | None
) -> MemoryItem | None:
    """The stored item the new fact replaces: same subject, else the model's choice among close ones."""
    if fact.subject:
        for item in known:
            if item.subject == fact.subject:
                return item
    if model is None or not known:
        return None
    similarities = _similarities(vector, known)
    threshold = knowledge_settings().contradiction_similarity
    duplicate = knowledge_settings().duplicate_similarity
    order = [int(i) for i in np.argsort(-similarities) if threshold <= similarities[i] < duplicate]
    candidates = [known[i] for i in order[:CANDIDATES_FOR_THE_MODEL]]
    return _ask_which_is_replaced(fact, candidates, model) if candidates else None


def _ask_which_is_replaced(fact: Fact, candidates: list[MemoryItem], model: ModelCall) -> MemoryItem | None:
    numbered = "\n".join(f"{number}. {item.text}" for number, item in enumerate(candidates, start=1))
    completion = model(REPLACEMENT_PROMPT.format(numbered=numbered, fact=fact.fact))
    found = JSON_OBJECT.search(completion)
    try:
        answer = _Replacement.model_validate_json(found.group()) if found else _Replacement()
    except ValidationError:
        return None
    if answer.replaces is None or answer.replaces > len(candidates):
        return None
    return candidates[answer.replaces - 1]


# --- consent ----------------------------------------------------------------------------------


class _ConsentQuestion(BaseModel):
    """What a consent token holds: the fact as noticed, whose memory, and where it was said."""

    owner: int
    fact: Fact
    channel: str
    message_id: int | None
    conversation_id: int | None
    at: datetime


def consent_token(*, owner_id: int, fact: Fact, source: Source) -> str:
    """The question "may I keep this?" as a signed token: the fact is kept nowhere until the person
    answers yes with it (`remember_consented`); no answer, or no, leaves nothing behind. Bound to the
    owner, valid for CONSENT_SECONDS; used twice, the second finds the fact already kept (duplicate)."""
    question = _ConsentQuestion(
        owner=owner_id,
        fact=fact,
        channel=source.channel,
        message_id=source.message_id,
        conversation_id=source.conversation_id,
        at=source.at or timezone.now(),
    )
    return signing.dumps(question.model_dump(mode="json"), salt=CONSENT_SALT, compress=True)


def remember_consented(*, owner_id: int, token: str, content_check: ContentCheck) -> MemoryItem:
    """The person said yes to keeping the fact of `token`: stored (or found already kept), with the
    provenance of the exchange it was noticed in. Raises NOT_FOUND for a token that is forged,
    expired or another person's, FORBIDDEN with memory off, BLOCKED when the guard refuses it now."""
    try:
        question = _ConsentQuestion.model_validate(signing.loads(token, salt=CONSENT_SALT, max_age=CONSENT_SECONDS))
    except (signing.BadSignature, ValidationError):  # SignatureExpired is a BadSignature
        question = None
    if question is None or question.owner != owner_id:
        raise AssistantError(ErrorCode.NOT_FOUND, 'That question has expired. Say "remember that …" in the chat.')
    source = Source(question.channel, question.message_id, question.at, question.conversation_id)
    kept = remember(owner_id=owner_id, fact=question.fact, source=source, content_check=content_check, consented=True)
    if kept.outcome is Outcome.MEMORY_OFF:
        raise AssistantError(ErrorCode.FORBIDDEN, "Memory is off. Turn it on in Settings to keep facts.")
    if kept.item is None:
        raise AssistantError(ErrorCode.BLOCKED, "This text can't be kept in memory.")
    return kept.item


# --- reading and the person's own changes -------------------------------------------------------


def relevant_memories(
    *,
    person_id: int,
    question: str,
    token_budget: int,
    count_tokens: TokenCounter = llama3_tokens,
    question_vector: embeddings.Embedded | None = None,
) -> list[MemoryItem]:
    """The items of `person_id`'s memory (the web account's, for a messaging identity linked to one)
    most related to the question, best first, within `token_budget`. None when memory is off.
    `question_vector`: the question's embedding when the caller already has it (or will compute it once)."""
    # The link is followed inside the statement: one round trip for the common turn, which finds nothing.
    known = list(MemoryItem.objects.filter(owner_id=memory_owner_in_sql(user_id=person_id)))
    # The setting is read only when there is something to recall: most turns of a new person skip it.
    if not known or not question.strip() or not is_enabled(owner_id=known[0].owner_id):
        return []
    similarities = _similarities((question_vector or embeddings.embedded(question))(), known)
    floor = knowledge_settings().memory_min_similarity
    chosen: list[MemoryItem] = []
    used = 0
    for index in np.argsort(-similarities, kind="stable"):
        cost = count_tokens(known[index].text)
        if similarities[index] >= floor and used + cost <= token_budget:
            chosen.append(known[index])
            used += cost
    return chosen


def memory_list(*, owner_id: int) -> QuerySet[MemoryItem]:
    return MemoryItem.objects.filter(owner_id=owner_id).defer("embedding")


def kept_from(*, owner_id: int, message_ids: Sequence[int]) -> dict[int, list[MemoryItem]]:
    """The items each of these messages taught (their provenance), by message id: what a reloaded
    chat shows as "memory updated"."""
    found: dict[int, list[MemoryItem]] = {}
    for item in memory_list(owner_id=owner_id).filter(source_message_id__in=message_ids).order_by("id"):
        found.setdefault(item.source_message_id, []).append(item)
    return found


def memory_for(*, owner_id: int, item_id: int) -> MemoryItem:
    try:
        return MemoryItem.objects.get(owner_id=owner_id, pk=item_id)
    except MemoryItem.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, "There is no such memory.") from None


def edit_memory(*, owner_id: int, item_id: int, text: str, content_check: ContentCheck) -> MemoryItem:
    """The person's own wording replaces the item's; its provenance stays (where it was first said).
    Typing a sensitive fact in Settings is the person saying so, so its category is kept."""
    item = memory_for(owner_id=owner_id, item_id=item_id)
    if not content_check(text):
        raise AssistantError(ErrorCode.BLOCKED, "This text can't be kept in memory.")
    item.text = text
    item.embedding = embeddings.to_bytes(embeddings.embed([text])[0])
    item.save(update_fields=["text", "embedding", "updated"])
    return item


def delete_memory(*, owner_id: int, item_id: int) -> None:
    memory_for(owner_id=owner_id, item_id=item_id).delete()


def clear_memory(*, owner_id: int) -> int:
    """Every item of the person; the number deleted."""
    deleted, _ = MemoryItem.objects.filter(owner_id=owner_id).delete()
    return deleted
