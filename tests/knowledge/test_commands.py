"""Memory commands: what each message is read as, and what running one changes (the turns that carry
them through the door: tests/assistant/test_knowledge_turns.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation

from assistant.models import User
from knowledge import linking, memory
from knowledge.commands import PHRASES, CommandKind, MemoryCommand, exchange_note, memory_command, run_command
from knowledge.memory import ConsentAsk, ExchangeMemory, KeptItem, Source
from knowledge.models import LinkCode
from knowledge.recall import recall


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/memory", MemoryCommand(CommandKind.LIST)),
        ("/Memory@assistant_bot", MemoryCommand(CommandKind.LIST)),
        ("/forget all", MemoryCommand(CommandKind.FORGET_ALL)),
        ("/forget 12", MemoryCommand(CommandKind.FORGET_NUMBER, number=12)),
        ("/forget", MemoryCommand(CommandKind.FORGET_USAGE)),
        ("/forget my address", MemoryCommand(CommandKind.FORGET_USAGE)),
        ("Forget that.", MemoryCommand(CommandKind.FORGET_PREVIOUS, language="en")),
        ("please forget it", MemoryCommand(CommandKind.FORGET_PREVIOUS, language="en")),
        ("Remember that I am vegetarian.", MemoryCommand(CommandKind.REMEMBER, fact="I am vegetarian.", language="en")),
        (
            "remember that my flat\nhas no lift",
            MemoryCommand(CommandKind.REMEMBER, fact="my flat\nhas no lift", language="en"),
        ),
        ("What do you remember about me?", MemoryCommand(CommandKind.LIST, language="en")),
        ("/remember I am vegetarian", MemoryCommand(CommandKind.REMEMBER, fact="I am vegetarian")),
        ("/remember", MemoryCommand(CommandKind.REMEMBER_USAGE)),
        ("/link k7qx2m9p", MemoryCommand(CommandKind.LINK, code="k7qx2m9p")),
    ],
)
def test_commands_are_recognised(text: str, command: MemoryCommand) -> None:
    assert memory_command(text) == command


@pytest.mark.parametrize(
    "text",
    [
        "",
        "/memory please",
        "/memories",
        "Remember that film we saw?",
        "Forget that I said it was Lisbon",
        "forget",
        "What do you know?",
        "¿Recuerdas que fuimos a Roma?",
        "Weißt du, dass Porto am Meer liegt?",
    ],
)
def test_other_text_is_a_question_for_the_model(text: str) -> None:
    assert memory_command(text) is None


# Each language of the UI: "remember that …", "forget that" and "what do you remember about me?".
SAID = {
    "de": (
        "Merk dir, dass ich Vegetarier bin.",
        "ich Vegetarier bin.",
        "Vergiss das bitte.",
        "Was weißt du über mich?",
    ),
    "fr": ("Souviens-toi que je suis végétarien.", "je suis végétarien.", "Oublie ça.", "Que sais-tu de moi ?"),
    "it": ("Ricorda che sono vegetariano.", "sono vegetariano.", "Dimenticalo.", "Cosa ricordi di me?"),
    "pt": ("Lembre-se de que sou vegetariano.", "sou vegetariano.", "Esqueça isso.", "O que você sabe sobre mim?"),
    "hi": ("याद रखो कि मैं शाकाहारी हूँ।", "मैं शाकाहारी हूँ।", "इसे भूल जाओ।", "तुम्हें मेरे बारे में क्या याद है?"),
    "es": ("Recuerda que soy vegetariano.", "soy vegetariano.", "Olvida eso, por favor.", "¿Qué sabes de mí?"),
    "th": ("จำไว้ว่าฉันเป็นมังสวิรัติ", "ฉันเป็นมังสวิรัติ", "ลืมเรื่องนั้นไปเลยนะ", "คุณจำอะไรเกี่ยวกับฉันได้บ้าง"),
}


def test_every_language_of_the_ui_has_its_phrases() -> None:
    assert set(PHRASES) == {code for code, _name in settings.LANGUAGES}
    assert set(SAID) == set(PHRASES) - {"en"}


@pytest.mark.parametrize("language", sorted(SAID))
def test_the_phrases_are_recognised_in_each_language(language: str) -> None:
    remember, fact, forget, recall = SAID[language]
    assert memory_command(remember) == MemoryCommand(CommandKind.REMEMBER, fact=fact, language=language)
    assert memory_command(forget) == MemoryCommand(CommandKind.FORGET_PREVIOUS, language=language)
    assert memory_command(recall) == MemoryCommand(CommandKind.LIST, language=language)


TELEGRAM = Source("telegram")


def run(command: MemoryCommand | None, user: User, source: Source = TELEGRAM, previous: int | None = None) -> str:
    assert command is not None
    return run_command(command, owner_id=user.pk, sender_id=user.pk, source=source, previous_message_id=previous)


@pytest.mark.parametrize("language", sorted(SAID))
def test_remember_and_forget_in_each_language_answer_in_it(owner: User, language: str) -> None:
    remember, fact, forget, _ = SAID[language]
    with translation.override(language):  # as the pipeline answers a phrase: in its language
        kept = run(memory_command(remember), owner, Source("telegram", message_id=7))
        stored = list(memory.memory_list(owner_id=owner.pk).values_list("text", flat=True))
        forgotten = run(memory_command(forget), owner, previous=7)
        expected = (
            translation.gettext("I'll remember that: %(fact)s") % {"fact": fact},
            translation.gettext("Forgotten: %(fact)s") % {"fact": fact},
        )
    assert (kept, forgotten) == expected
    assert kept != f"I'll remember that: {fact}"  # translated, not the English reply
    assert stored == [fact]
    assert not memory.memory_list(owner_id=owner.pk).exists()


def test_the_messaging_note_names_what_was_kept_and_asks_about_sensitive_facts() -> None:
    news = ExchangeMemory(
        kept=[KeptItem(id=1, text="Lives in Porto.")],
        ask=[ConsentAsk(text="Has type 1 diabetes.", token="t")],
    )
    assert exchange_note(None) == exchange_note(ExchangeMemory()) == ""
    assert exchange_note(news) == (
        "\n\nMemory updated: Lives in Porto. /memory to see, /forget to remove."
        "\n\nI can remember “Has type 1 diabetes” — reply /remember Has type 1 diabetes to keep it."
    )
    with translation.override("de"):
        assert exchange_note(news).startswith("\n\nGedächtnis aktualisiert: Lives in Porto.")


def test_slash_remember_keeps_the_words_after_it_and_alone_says_how(owner: User) -> None:
    assert run(memory_command("/remember Has type 1 diabetes"), owner) == "I'll remember that: Has type 1 diabetes"
    assert run(memory_command("/remember"), owner) == "Send /remember followed by what I should remember."
    assert list(memory.memory_list(owner_id=owner.pk).values_list("text", flat=True)) == ["Has type 1 diabetes"]


def test_remember_that_keeps_the_persons_own_words_even_when_sensitive(owner: User) -> None:
    reply = run(MemoryCommand(CommandKind.REMEMBER, fact="I have diabetes."), owner, Source("telegram", message_id=7))
    [item] = memory.memory_list(owner_id=owner.pk)
    assert reply == "I'll remember that: I have diabetes."
    assert (item.text, item.source_channel, item.source_message_id) == ("I have diabetes.", "telegram", 7)


def test_a_command_with_memory_off_keeps_nothing_and_says_so(owner: User) -> None:
    memory.set_enabled(owner_id=owner.pk, enabled=False)
    assert run(MemoryCommand(CommandKind.REMEMBER, fact="I live in Porto."), owner).startswith("Memory is off")
    assert not memory.memory_list(owner_id=owner.pk).exists()


def test_forgetting_another_persons_item_is_impossible(owner: User, stranger: User) -> None:
    run(MemoryCommand(CommandKind.REMEMBER, fact="I live in Porto."), stranger, Source("web", message_id=3))
    for forget in (MemoryCommand(CommandKind.FORGET_NUMBER, number=1), MemoryCommand(CommandKind.FORGET_ALL)):
        run(forget, owner)
    run(MemoryCommand(CommandKind.FORGET_PREVIOUS), owner, previous=3)
    assert memory.memory_list(owner_id=stranger.pk).count() == 1


def test_a_link_code_works_once_within_its_time_and_never_from_the_web(owner: User, stranger: User) -> None:
    code, _ = linking.issue_code(account_id=owner.pk)
    link = MemoryCommand(CommandKind.LINK, code=code)
    assert run(link, stranger, Source("web")).startswith("Send /link followed by the code")
    assert run(MemoryCommand(CommandKind.LINK), stranger).startswith("Send /link followed by the code")
    assert run(link, owner).startswith("That code is not valid")  # an account does not link to itself
    assert run(link, stranger) == "Linked: this chat now uses the memory of your web account."
    assert linking.memory_owner(user_id=stranger.pk) == owner.pk
    assert run(link, stranger).startswith("That code is not valid")

    late, _ = linking.issue_code(account_id=owner.pk)
    LinkCode.objects.filter(account=owner).update(expires=timezone.now())
    assert run(MemoryCommand(CommandKind.LINK, code=late), stranger).startswith("That code is not valid")


def test_a_linked_identity_recalls_the_accounts_facts_in_the_statement_that_reads_them(
    owner: User, stranger: User, django_assert_num_queries: Callable[..., Any]
) -> None:
    run(MemoryCommand(CommandKind.REMEMBER, fact="I live in Porto."), owner, Source("web", message_id=3))
    code, _ = linking.issue_code(account_id=owner.pk)
    run(MemoryCommand(CommandKind.LINK, code=code), stranger)
    # The facts, with the link followed inside their statement, then the account's memory setting.
    with django_assert_num_queries(2):
        found = recall(
            owner_id=stranger.pk,
            memory=True,
            question="Where do I live?",
            conversation_id=1,
            memory_tokens=100,
            passage_tokens=0,
        )
    assert [fact.text for fact in found.memories] == ["I live in Porto."]


def test_a_new_code_replaces_the_last_one(owner: User, stranger: User) -> None:
    first, _ = linking.issue_code(account_id=owner.pk)
    linking.issue_code(account_id=owner.pk)
    assert run(MemoryCommand(CommandKind.LINK, code=first), stranger).startswith("That code is not valid")
    assert linking.memory_owner(user_id=stranger.pk) == stranger.pk


def test_an_account_issues_link_codes_and_a_guest_does_not(
    owner: User, stranger: User, client_of: Callable[[User], Client]
) -> None:
    owner.is_guest = False
    owner.save()
    issued = client_of(owner).post("/api/memory/link")
    assert issued.status_code == 201
    assert set(issued.json()) == {"code", "expires_at"}
    assert run(MemoryCommand(CommandKind.LINK, code=issued.json()["code"]), stranger).startswith("Linked")
    refused = client_of(stranger).post("/api/memory/link")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
