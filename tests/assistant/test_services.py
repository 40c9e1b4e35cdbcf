import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.chat import selectors, services
from assistant.engine import recorder
from assistant.engine.frames import frames_after
from assistant.engine.outcome import AnswerOutcome
from assistant.models import Conversation, Message
from core.errors import AssistantError, ErrorCode

pytestmark = pytest.mark.django_db


@pytest.fixture
def guest():
    return services.create_guest()


def finish(answer: Message, content: str = "Answer.") -> None:
    outcome = AnswerOutcome(content=content, frame_ends=[len(content)], status="complete", finish_reason="stop")
    recorder.finish_answer(answer_id=answer.pk, outcome=outcome)


@pytest.fixture(autouse=True)
def no_titles(settings):
    settings.ASSISTANT_MODEL_TITLES = False


def test_start_turn_stores_user_message_and_streaming_answer(guest) -> None:
    start = services.start_turn(user=guest, conversation_id=None, text="  Hello there  ", client_id="c1")
    assert start.created
    assert start.user_message.content == "Hello there"
    assert start.answer.status == Message.Status.STREAMING
    assert start.answer.reply_to == start.user_message
    assert start.conversation.title == "Hello there"


def test_start_turn_is_idempotent_on_client_id(guest) -> None:
    first = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="same")
    again = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="same")
    assert not again.created
    assert (again.conversation, again.user_message, again.answer) == (
        first.conversation,
        first.user_message,
        first.answer,
    )
    assert Message.objects.count() == 2


@pytest.mark.parametrize("follow_up", [False, True], ids=["first-message", "follow-up"])
def test_a_retried_turn_is_found_without_being_admitted_again(guest, follow_up: bool) -> None:
    conversation_id = None
    if follow_up:
        earlier = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="earlier")
        finish(earlier.answer)
        conversation_id = earlier.conversation.pk
    admitted: list[str] = []

    def send() -> services.TurnStart:
        return services.start_turn(
            user=guest, conversation_id=conversation_id, text="More", client_id="c", admit=lambda: admitted.append("c")
        )

    first, again = send(), send()
    assert (first.created, again.created) == (True, False)
    assert (again.conversation.pk, again.user_message, again.answer) == (
        first.conversation.pk,
        first.user_message,
        first.answer,
    )
    assert admitted == ["c"]  # the retry neither counts against the limits nor stores anything
    assert Message.objects.count() == (4 if follow_up else 2)


def test_a_retried_first_message_past_its_limit_leaves_nothing_behind(guest) -> None:
    def refuse() -> None:
        raise AssistantError(ErrorCode.RATE_LIMITED, "Too many.")

    with pytest.raises(AssistantError):
        services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="c", admit=refuse)
    assert not Conversation.objects.exists()  # refused after its conversation's insert: rolled back
    start = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="c")
    assert start.created


def test_a_follow_up_is_stored_in_one_read_of_its_conversation(guest, django_assert_max_num_queries) -> None:
    earlier = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="a")
    finish(earlier.answer)
    # The conversation found and touched in one statement, its messages, the question, the answer, and
    # the transaction's savepoint and release (inside the test's own transaction): no retry lookup.
    with django_assert_max_num_queries(6):
        services.start_turn(user=guest, conversation_id=earlier.conversation.pk, text="More", client_id="b")


def test_second_turn_while_streaming_is_refused(guest) -> None:
    start = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="a")
    with pytest.raises(AssistantError) as caught:
        services.start_turn(user=guest, conversation_id=start.conversation.pk, text="More", client_id="b")
    assert caught.value.code == ErrorCode.TURN_IN_PROGRESS
    assert Message.objects.count() == 2


def test_regeneration_supersedes_and_keeps_old_answer(guest) -> None:
    start = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="a")
    finish(start.answer)
    again = services.start_regeneration(user=guest, conversation_id=start.conversation.pk)
    start.answer.refresh_from_db()
    assert start.answer.superseded
    assert again.answer.reply_to == start.user_message
    visible = list(selectors.visible_messages(conversation=start.conversation))
    assert visible == [start.user_message, again.answer]
    assert Message.objects.count() == 3


def test_regenerate_without_user_message_is_refused(guest) -> None:
    conversation = services.create_conversation(user=guest)
    with pytest.raises(AssistantError) as caught:
        services.start_regeneration(user=guest, conversation_id=conversation.pk)
    assert caught.value.code == ErrorCode.NOTHING_TO_REGENERATE


def test_prompt_history_skips_empty_failed_answers(guest) -> None:
    first = services.start_turn(user=guest, conversation_id=None, text="One", client_id="a")
    recorder.finish_answer(
        answer_id=first.answer.pk,
        outcome=AnswerOutcome(content="", frame_ends=[], status="error", finish_reason="error"),
    )
    second = services.start_turn(user=guest, conversation_id=first.conversation.pk, text="Two", client_id="b")
    history = selectors.prompt_history(answer=second.answer)
    assert [m.content for m in history] == ["One", "Two"]


def test_finish_answer_only_finishes_streaming_answers(guest) -> None:
    start = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="a")
    finish(start.answer, "First")
    finish(start.answer, "Second")
    start.answer.refresh_from_db()
    assert start.answer.content == "First"


def test_delete_refused_while_streaming(guest) -> None:
    start = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="a")
    with pytest.raises(AssistantError) as caught:
        services.delete_conversation(user=guest, conversation_id=start.conversation.pk)
    assert caught.value.code == ErrorCode.TURN_IN_PROGRESS
    finish(start.answer)
    services.delete_conversation(user=guest, conversation_id=start.conversation.pk)
    assert not Message.objects.exists()


def test_generated_title_does_not_overwrite_a_rename(guest) -> None:
    start = services.start_turn(user=guest, conversation_id=None, text="Plan a trip", client_id="a")
    provisional = start.conversation.title
    services.rename_conversation(user=guest, conversation_id=start.conversation.pk, title="Holiday")
    services.set_generated_title(conversation_id=start.conversation.pk, title="Trip planning", provisional=provisional)
    start.conversation.refresh_from_db()
    assert start.conversation.title == "Holiday"


def test_an_answer_is_finished_with_its_prompts_new_token_counts(guest) -> None:
    start = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="a")
    outcome = AnswerOutcome(content="Hello", frame_ends=[5], status="complete", finish_reason="stop")
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome, token_counts={start.user_message.pk: 12})
    start.user_message.refresh_from_db()
    assert start.user_message.token_count == 12


def test_mark_interrupted_keeps_saved_text(guest) -> None:
    start = services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="a")
    recorder.save_answers_progress([recorder.AnswerProgress(start.answer.pk, "Par", [2, 3], 5)])
    answer = recorder.mark_interrupted(answer_id=start.answer.pk)
    assert (answer.status, answer.content, answer.seq, answer.finish_reason) == ("interrupted", "Par", 2, "interrupted")


@given(st.lists(st.text(min_size=1, max_size=5), max_size=20), st.integers(min_value=0, max_value=25))
def test_frames_after_rebuilds_exact_frames(parts: list[str], after: int) -> None:
    content = "".join(parts)
    ends = [sum(len(p) for p in parts[: i + 1]) for i in range(len(parts))]
    frames = frames_after(content, ends, after)
    assert frames == [(i + 1, p) for i, p in enumerate(parts) if i + 1 > after]
