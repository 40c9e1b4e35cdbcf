"""Memory: deduplication, contradiction, consent, the guard and the switch, retrieval in a budget.

The model is the caller's function: here plain functions answering as a model would (and as badly),
so each path of the validation is exercised; a real model is not needed to test what we do with its text."""

from __future__ import annotations

from datetime import UTC, datetime

from assistant.models import User
from knowledge import memory
from knowledge.memory import Fact, Outcome, Source
from knowledge.models import MemoryItem

CHAT = Source(channel="web", message_id=41, at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))


def allow(_text: str) -> bool:
    return True


def refuse(_text: str) -> bool:
    return False


def remember(owner: User, text: str, subject: str = "", **options) -> memory.Remembered:
    fact = Fact(fact=text, subject=subject, category=options.pop("category", "none"))
    return memory.remember(owner_id=owner.pk, fact=fact, source=CHAT, content_check=allow, **options)


def texts(owner: User) -> list[str]:
    return sorted(memory.memory_list(owner_id=owner.pk).values_list("text", flat=True))


def test_a_fact_is_stored_with_where_it_was_said(owner: User) -> None:
    stored = remember(owner, "Has a dog named Rex.", "pet")
    assert stored.outcome == Outcome.STORED
    item = MemoryItem.objects.get(pk=stored.item.pk)
    assert (item.source_channel, item.source_message_id, item.source_time) == ("web", 41, CHAT.at)


def test_the_same_fact_in_other_words_is_not_stored_twice(owner: User) -> None:
    remember(owner, "Has a dog named Rex.")
    assert remember(owner, "Has a dog called Rex.").outcome == Outcome.DUPLICATE
    assert texts(owner) == ["Has a dog named Rex."]


def test_a_new_fact_on_the_same_subject_replaces_the_old(owner: User) -> None:
    old = remember(owner, "Lives in Lisbon.", "home city")
    replaced = remember(owner, "Moved to Porto.", "Home City")
    assert (replaced.outcome, replaced.replaced_text, replaced.item.pk) == (
        Outcome.REPLACED,
        "Lives in Lisbon.",
        old.item.pk,
    )
    assert texts(owner) == ["Moved to Porto."]


def test_the_model_decides_a_contradiction_between_different_subjects(owner: User) -> None:
    remember(owner, "Works as a nurse at a hospital.", "job")
    remember(owner, "Lives in Lisbon.", "home city")
    asked: list[str] = []

    def model(prompt: str) -> str:
        asked.append(prompt)
        return 'Sure. {"replaces": 1}'

    result = remember(owner, "Works as a teacher at a school.", "profession", model=model)
    assert result.outcome == Outcome.REPLACED
    assert "1. Works as a nurse at a hospital." in asked[0]
    assert "Lives in Lisbon" not in asked[0]  # not close enough in meaning to be put to the model
    assert texts(owner) == ["Lives in Lisbon.", "Works as a teacher at a school."]


def test_a_model_answer_that_does_not_validate_keeps_both_facts(owner: User) -> None:
    for answer in ("yes, the first", '{"replaces": 7}', '{"replaces": "one"}', '{"replaces": 0}', '{"replaces": null}'):
        memory.clear_memory(owner_id=owner.pk)
        remember(owner, "Works as a nurse at a hospital.", "job")
        result = remember(owner, "Works as a teacher at a school.", "profession", model=lambda _p, a=answer: a)
        assert result.outcome == Outcome.STORED, answer
        assert texts(owner) == ["Works as a nurse at a hospital.", "Works as a teacher at a school."]


def test_sensitive_facts_are_asked_about_not_kept(owner: User) -> None:
    assert remember(owner, "Has type 1 diabetes.", "health", category="health").outcome == Outcome.NEEDS_CONSENT
    assert texts(owner) == []
    kept = remember(owner, "Has type 1 diabetes.", "health", category="health", consented=True)
    assert (kept.outcome, kept.item.sensitive_category) == (Outcome.STORED, "health")


def test_the_guard_and_the_switch_stop_storing(owner: User) -> None:
    fact = Fact(fact="Keeps a spare key under the mat.")
    refused = memory.remember(owner_id=owner.pk, fact=fact, source=CHAT, content_check=refuse)
    assert refused.outcome == Outcome.BLOCKED
    memory.set_enabled(owner_id=owner.pk, enabled=False)
    assert remember(owner, "Likes jazz.").outcome == Outcome.MEMORY_OFF
    assert texts(owner) == []


def test_exchange_extraction_validates_the_models_json(owner: User) -> None:
    answer = (
        'Here you go: [{"fact": "Lives in Porto.", "subject": "home city", "category": "none"},'
        ' {"fact": "", "subject": "empty"}, {"fact": "Is Catholic.", "subject": "religion", "category": "religion"},'
        ' {"fact": "Plays chess.", "category": "hobby-ish"}, "not an object"]'
    )
    prompts: list[str] = []
    results = memory.remember_exchange(
        owner_id=owner.pk,
        user_text="I just moved to Porto. As a Catholic I like the churches.",
        answer_text="Porto has many beautiful churches.",
        blocked=False,
        source=CHAT,
        model=lambda prompt: prompts.append(prompt) or answer,
        content_check=allow,
    )
    assert [(r.fact.fact, r.outcome) for r in results] == [
        ("Lives in Porto.", Outcome.STORED),
        ("Is Catholic.", Outcome.NEEDS_CONSENT),
    ]
    assert "User: I just moved to Porto." in prompts[0]
    assert memory.parse_facts("no JSON here") == memory.parse_facts("[not json]") == memory.parse_facts("{}") == []


def test_a_blocked_turn_is_not_read(owner: User) -> None:
    def model(_prompt: str) -> str:
        raise AssertionError("the model must not be asked about a blocked turn")

    results = memory.remember_exchange(
        owner_id=owner.pk, user_text="…", answer_text="", blocked=True, source=CHAT, model=model, content_check=allow
    )
    assert results == []


def test_relevant_memories_come_best_first_within_the_budget(owner: User) -> None:
    for text in ("Is vegetarian.", "Has a dog named Rex.", "Lives in Porto.", "Works night shifts."):
        remember(owner, text)
    question = "Which vegetarian restaurants are there?"
    best = memory.relevant_memories(person_id=owner.pk, question=question, token_budget=1000, count_tokens=len)
    assert best[0].text == "Is vegetarian."
    tight = memory.relevant_memories(
        person_id=owner.pk, question=question, token_budget=len("Is vegetarian."), count_tokens=len
    )
    assert [item.text for item in tight] == ["Is vegetarian."]
    memory.set_enabled(owner_id=owner.pk, enabled=False)
    assert memory.relevant_memories(person_id=owner.pk, question=question, token_budget=1000) == []


def test_edit_delete_and_clear_touch_only_the_owners_items(owner: User, stranger: User) -> None:
    mine = remember(owner, "Lives in Porto.", "home city").item
    remember(owner, "Likes jazz.", "music")
    remember(stranger, "Likes opera.", "music")
    edited = memory.edit_memory(owner_id=owner.pk, item_id=mine.pk, text="Lives in Braga.", content_check=allow)
    assert (edited.text, edited.source_channel) == ("Lives in Braga.", "web")
    assert (
        memory.relevant_memories(person_id=owner.pk, question="Where do I live? Braga?", token_budget=50)[0].pk
        == mine.pk
    )
    memory.delete_memory(owner_id=owner.pk, item_id=mine.pk)
    assert texts(owner) == ["Likes jazz."]
    assert memory.clear_memory(owner_id=owner.pk) == 1
    assert texts(owner) == []
    assert texts(stranger) == ["Likes opera."]
