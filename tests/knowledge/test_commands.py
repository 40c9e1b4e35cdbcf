"""Memory commands: what each message is read as, and what running one changes (the turns that carry
them through the door: tests/assistant/test_knowledge_turns.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import timezone

from assistant.models import User
from knowledge import linking, memory
from knowledge.commands import CommandKind, MemoryCommand, memory_command, run_command
from knowledge.memory import Source
from knowledge.models import LinkCode


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/memory", MemoryCommand(CommandKind.LIST)),
        ("/Memory@assistant_bot", MemoryCommand(CommandKind.LIST)),
        ("/forget all", MemoryCommand(CommandKind.FORGET_ALL)),
        ("/forget 12", MemoryCommand(CommandKind.FORGET_NUMBER, number=12)),
        ("/forget", MemoryCommand(CommandKind.FORGET_USAGE)),
        ("/forget my address", MemoryCommand(CommandKind.FORGET_USAGE)),
        ("Forget that.", MemoryCommand(CommandKind.FORGET_PREVIOUS)),
        ("please forget it", MemoryCommand(CommandKind.FORGET_PREVIOUS)),
        ("Remember that I am vegetarian.", MemoryCommand(CommandKind.REMEMBER, fact="I am vegetarian.")),
        ("remember that my flat\nhas no lift", MemoryCommand(CommandKind.REMEMBER, fact="my flat\nhas no lift")),
        ("/link k7qx2m9p", MemoryCommand(CommandKind.LINK, code="k7qx2m9p")),
    ],
)
def test_commands_are_recognised(text: str, command: MemoryCommand) -> None:
    assert memory_command(text) == command


@pytest.mark.parametrize(
    "text",
    ["", "/memory please", "/memories", "Remember that film we saw?", "Forget that I said it was Lisbon", "forget"],
)
def test_other_text_is_a_question_for_the_model(text: str) -> None:
    assert memory_command(text) is None


TELEGRAM = Source("telegram")


def run(command: MemoryCommand, user: User, source: Source = TELEGRAM, previous: int | None = None) -> str:
    return run_command(command, owner_id=user.pk, sender_id=user.pk, source=source, previous_message_id=previous)


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
