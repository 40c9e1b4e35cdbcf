"""Message versions (assistant/chat/services.py, selectors.py): a regenerated answer and an edited
question are new versions of a message; the one shown is chosen, the others stay stored with the
branch that followed each, and the model reads only the branch on screen."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from assistant.chat import api_keys, selectors, services
from assistant.chat.services import RequestMessage, TurnStart
from assistant.engine import recorder
from assistant.engine.outcome import AnswerOutcome
from assistant.models import Channel, Conversation, Message, User
from core.errors import AssistantError, ErrorCode

pytestmark = pytest.mark.django_db


@pytest.fixture
def guest() -> User:
    return services.create_guest()


@pytest.fixture(autouse=True)
def no_titles(settings) -> None:
    settings.ASSISTANT_MODEL_TITLES = False


def finish(answer: Message, content: str) -> None:
    outcome = AnswerOutcome(content=content, frame_ends=[len(content)], status="complete", finish_reason="stop")
    recorder.finish_answer(answer_id=answer.pk, outcome=outcome)


def turn(user: User, conversation: Conversation | None, text: str, answer: str) -> TurnStart:
    start = services.start_turn(
        user=user, conversation_id=conversation.pk if conversation else None, text=text, client_id=text
    )
    finish(start.answer, answer)
    return start


def shown(conversation: Conversation) -> list[str]:
    return [m.content for m in selectors.visible_messages(conversation=conversation)]


def history(answer: Message) -> list[str]:
    return [m.content for m in selectors.prompt_history(answer=Message.objects.get(pk=answer.pk))]


def versions(conversation: Conversation) -> dict[int, list[int]]:
    return selectors.versions_by_message(messages=conversation.messages.all())


def api_turn(user: User, *sent: RequestMessage) -> TurnStart:
    user.is_guest = False  # guests cannot have API keys
    user.save()
    created = api_keys.create_key(user=user, name="k")
    return services.start_api_turn(key=created.key, instructions="", messages=sent)


def two_turns(user: User) -> tuple[TurnStart, TurnStart]:
    first = turn(user, None, "Q1", "A1")
    return first, turn(user, first.conversation, "Q2", "A2")


def test_regenerating_keeps_the_earlier_answer_as_version_one(guest) -> None:
    first = turn(guest, None, "Q1", "A1")
    again = services.start_regeneration(user=guest, conversation_id=first.conversation.pk)
    finish(again.answer, "A1 again")

    assert shown(first.conversation) == ["Q1", "A1 again"]
    assert versions(first.conversation)[again.answer.pk] == [first.answer.pk, again.answer.pk]
    assert versions(first.conversation)[first.user_message.pk] == [first.user_message.pk]

    services.select_version(user=guest, message_id=first.answer.pk)
    assert shown(first.conversation) == ["Q1", "A1"]
    assert Message.objects.count() == 3


def test_the_version_shown_is_the_one_the_next_message_follows(guest) -> None:
    first = turn(guest, None, "Q1", "A1")
    again = services.start_regeneration(user=guest, conversation_id=first.conversation.pk)
    finish(again.answer, "A1 again")
    services.select_version(user=guest, message_id=first.answer.pk)

    second = turn(guest, first.conversation, "Q2", "A2")

    assert second.user_message.parent_id == first.answer.pk
    assert history(second.answer) == ["Q1", "A1", "Q2"]
    # Back to the latest answer: its branch ends there, as it was left.
    services.select_version(user=guest, message_id=again.answer.pk)
    assert shown(first.conversation) == ["Q1", "A1 again"]


def test_an_edit_starts_a_branch_and_the_old_one_comes_back_whole(guest) -> None:
    first, _ = two_turns(guest)
    conversation = first.conversation

    edit = services.start_edit(
        user=guest, conversation_id=conversation.pk, message_id=first.user_message.pk, text="Q1 edited", client_id="e"
    )

    assert edit.created
    assert edit.user_message.parent_id is None
    assert history(edit.answer) == ["Q1 edited"]  # the model sees the new branch only
    finish(edit.answer, "A1'")
    assert shown(conversation) == ["Q1 edited", "A1'"]
    assert versions(conversation)[edit.user_message.pk] == [first.user_message.pk, edit.user_message.pk]
    assert Message.objects.count() == 6  # nothing lost

    services.select_version(user=guest, message_id=first.user_message.pk)
    assert shown(conversation) == ["Q1", "A1", "Q2", "A2"]
    services.select_version(user=guest, message_id=edit.user_message.pk)
    assert shown(conversation) == ["Q1 edited", "A1'"]


def test_editing_a_later_message_keeps_the_turns_before_it(guest) -> None:
    first, second = two_turns(guest)
    edit = services.start_edit(
        user=guest,
        conversation_id=first.conversation.pk,
        message_id=second.user_message.pk,
        text="Q2 edited",
        client_id="e",
    )

    assert edit.user_message.parent_id == first.answer.pk
    assert history(edit.answer) == ["Q1", "A1", "Q2 edited"]


def test_a_retried_edit_is_stored_once(guest) -> None:
    first = turn(guest, None, "Q1", "A1")
    fields = {"user": guest, "conversation_id": first.conversation.pk, "message_id": first.user_message.pk}
    edit = services.start_edit(**fields, text="Q1 edited", client_id="e")
    again = services.start_edit(**fields, text="Q1 edited", client_id="e")

    assert not again.created
    assert (again.user_message, again.answer) == (edit.user_message, edit.answer)
    assert Message.objects.count() == 4


def test_an_edit_while_an_answer_is_written_changes_nothing(guest) -> None:
    first = turn(guest, None, "Q1", "A1")
    services.start_turn(user=guest, conversation_id=first.conversation.pk, text="Q2", client_id="q2")

    with pytest.raises(AssistantError) as caught:
        services.start_edit(
            user=guest,
            conversation_id=first.conversation.pk,
            message_id=first.user_message.pk,
            text="Q1 edited",
            client_id="e",
        )

    assert caught.value.code == ErrorCode.TURN_IN_PROGRESS
    assert shown(first.conversation) == ["Q1", "A1", "Q2", ""]
    assert Message.objects.count() == 4


@pytest.mark.parametrize("target", ["answer", "hidden question", "someone else's"])
def test_only_a_shown_question_of_ones_own_can_be_edited(guest, target: str) -> None:
    first, second = two_turns(guest)
    services.start_edit(
        user=guest, conversation_id=first.conversation.pk, message_id=first.user_message.pk, text="Q1'", client_id="e"
    )
    message_id = {"answer": first.answer.pk, "hidden question": second.user_message.pk}.get(target)
    user = services.create_guest() if target == "someone else's" else guest

    with pytest.raises(AssistantError) as caught:
        services.start_edit(
            user=user,
            conversation_id=first.conversation.pk,
            message_id=message_id or first.user_message.pk,
            text="x",
            client_id="f",
        )

    assert caught.value.code == ErrorCode.NOT_FOUND
    assert Message.objects.count() == 6


def test_a_conversation_from_another_channel_is_not_edited(guest) -> None:
    start = api_turn(guest, RequestMessage("user", "Q"))

    with pytest.raises(AssistantError) as caught:
        services.start_edit(
            user=guest,
            conversation_id=start.conversation.pk,
            message_id=start.user_message.pk,
            text="x",
            client_id="e",
        )

    assert caught.value.code == ErrorCode.INVALID_FRAME
    assert start.conversation.channel == Channel.API


def test_api_history_stays_linear_with_one_version_each(guest) -> None:
    start = api_turn(
        guest, RequestMessage("user", "Q1"), RequestMessage("assistant", "A1"), RequestMessage("user", "Q2")
    )

    assert shown(start.conversation) == ["Q1", "A1", "Q2", ""]
    assert all(len(ids) == 1 for ids in versions(start.conversation).values())
    assert history(start.answer) == ["Q1", "A1", "Q2"]


def test_no_version_is_chosen_while_an_answer_is_written(guest) -> None:
    first = turn(guest, None, "Q1", "A1")
    services.start_regeneration(user=guest, conversation_id=first.conversation.pk)

    with pytest.raises(AssistantError) as caught:
        services.select_version(user=guest, message_id=first.answer.pk)

    assert caught.value.code == ErrorCode.TURN_IN_PROGRESS
    assert shown(first.conversation) == ["Q1", ""]


def test_a_version_off_the_branch_on_screen_is_not_chosen(guest) -> None:
    first, second = two_turns(guest)
    edit = services.start_edit(
        user=guest, conversation_id=first.conversation.pk, message_id=first.user_message.pk, text="Q1'", client_id="e"
    )
    finish(edit.answer, "A1'")

    with pytest.raises(AssistantError) as caught:
        services.select_version(user=guest, message_id=second.answer.pk)  # it follows the hidden Q2

    assert caught.value.code == ErrorCode.NOT_FOUND
    assert shown(first.conversation) == ["Q1'", "A1'"]


def test_sharing_shows_the_branch_on_screen(guest) -> None:
    first, _ = two_turns(guest)
    edit = services.start_edit(
        user=guest, conversation_id=first.conversation.pk, message_id=first.user_message.pk, text="Q1'", client_id="e"
    )
    finish(edit.answer, "A1'")
    conversation = services.share_conversation(user=guest, conversation_id=first.conversation.pk)

    _, messages = selectors.shared_conversation(token=conversation.share_token)

    assert [m.content for m in messages] == ["Q1'", "A1'"]


@pytest.mark.django_db(transaction=True)
def test_the_migration_links_stored_user_messages_to_the_answer_shown_before_them() -> None:
    before, after = ("assistant", "0009_message_feedback"), ("assistant", "0010_message_versions")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    owner = old.get_model("assistant", "User").objects.create(username="stored")
    conversation = old.get_model("assistant", "Conversation").objects.create(owner=owner)
    stored = old.get_model("assistant", "Message").objects

    def add(role: str, reply_to: int | None = None, superseded: bool = False) -> int:
        fields = {"conversation": conversation, "role": role, "reply_to_id": reply_to, "superseded": superseded}
        return stored.create(**fields).pk

    q1 = add("user")
    add("assistant", q1, superseded=True)  # replaced by a regenerate
    a1 = add("assistant", q1)
    q2 = add("user")
    add("assistant", q2)

    executor = MigrationExecutor(connection)
    executor.migrate([after])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    linked = dict(Message.objects.filter(role=Message.Role.USER).values_list("pk", "parent_id"))
    assert linked == {q1: None, q2: a1}
    assert [m.pk for m in selectors.visible_messages(conversation=Conversation.objects.get())][2] == q2
