"""The moderation queue: blocked turns recorded for review, user reports, audited decisions."""

import pytest

from assistant.chat import moderation, selectors, services
from assistant.engine import recorder
from assistant.engine.outcome import AnswerOutcome, BlockedTurn
from assistant.models import Message, ModerationAction, ModerationCase, User
from core.errors import AssistantError, ErrorCode

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_titles(settings):
    settings.ASSISTANT_MODEL_TITLES = False


@pytest.fixture
def guest() -> User:
    return services.create_guest()


@pytest.fixture
def staff() -> User:
    return User.objects.create_user("moderator", password="a long enough password", is_staff=True)


def answered(user: User, text: str = "Hello", content: str = "Hi!", **outcome) -> Message:
    start = services.start_turn(user=user, conversation_id=None, text=text, client_id=text[:60])
    recorder.finish_answer(
        answer_id=start.answer.pk,
        outcome=AnswerOutcome(
            content=content, frame_ends=[len(content)], status="complete", finish_reason="stop", **outcome
        ),
    )
    return Message.objects.get(pk=start.answer.pk)


def test_a_blocked_answer_keeps_its_original_only_in_the_case(guest) -> None:
    refusal = "I stopped this answer."
    start = services.start_turn(user=guest, conversation_id=None, text="question", client_id="q")
    blocked = BlockedTurn(stage="output", categories=["S2"], original_text="harmful text")
    recorder.finish_answer(
        answer_id=start.answer.pk,
        outcome=AnswerOutcome(
            content=refusal, frame_ends=[len(refusal)], status="blocked", finish_reason="blocked", blocked=blocked
        ),
    )
    answer = Message.objects.get(pk=start.answer.pk)
    assert answer.content == refusal
    case = ModerationCase.objects.get()
    assert (case.kind, case.message, case.author, case.categories) == ("blocked_output", answer, guest, ["S2"])
    assert case.original_text == "harmful text"


def test_a_blocked_question_is_recorded_against_the_users_message(guest) -> None:
    start = services.start_turn(user=guest, conversation_id=None, text="bad question", client_id="b")
    blocked = BlockedTurn(stage="input", categories=["S9"], original_text="bad question")
    recorder.finish_answer(
        answer_id=start.answer.pk,
        outcome=AnswerOutcome(
            content="No.", frame_ends=[3], status="blocked", finish_reason="blocked", blocked=blocked
        ),
    )
    case = ModerationCase.objects.get()
    assert case.kind == "blocked_input"
    assert case.message == start.user_message


def test_blocked_turns_leave_the_prompt_history(guest) -> None:
    first = services.start_turn(user=guest, conversation_id=None, text="bad question", client_id="b")
    recorder.finish_answer(
        answer_id=first.answer.pk,
        outcome=AnswerOutcome(content="No.", frame_ends=[3], status="blocked", finish_reason="blocked"),
    )
    second = services.start_turn(user=guest, conversation_id=first.conversation.pk, text="fine one", client_id="f")
    history = selectors.prompt_history(answer=second.answer)
    assert [m.content for m in history] == ["fine one"]


def test_reporting_twice_finds_the_same_case(guest) -> None:
    answer = answered(guest)
    first = moderation.report_answer(user=guest, message_id=answer.pk, reason="  wrong   facts ")
    again = moderation.report_answer(user=guest, message_id=answer.pk, reason="still wrong")
    assert first.pk == again.pk
    assert first.reason == "wrong facts"
    assert ModerationCase.objects.filter(kind="report").count() == 1


def test_nobody_reports_another_users_answer(guest) -> None:
    answer = answered(guest)
    other = services.create_guest()
    with pytest.raises(AssistantError) as refused:
        moderation.report_answer(user=other, message_id=answer.pk, reason="")
    assert refused.value.code == ErrorCode.NOT_FOUND


def test_suspending_from_a_case_deactivates_the_author_and_is_audited(guest, staff) -> None:
    case = moderation.report_answer(user=guest, message_id=answered(guest).pk, reason="")
    moderation.decide(actor=staff, case=case, action=ModerationAction.Action.SUSPEND, note="repeated abuse")
    guest.refresh_from_db()
    case.refresh_from_db()
    assert not guest.is_active
    assert case.state == "actioned"
    audit = ModerationAction.objects.get()
    assert (audit.actor, audit.action, audit.target, audit.case, audit.note) == (
        staff,
        "suspend",
        guest,
        case,
        "repeated abuse",
    )


def test_dismissing_closes_the_case_without_touching_the_author(guest, staff) -> None:
    case = moderation.report_answer(user=guest, message_id=answered(guest).pk, reason="")
    moderation.decide(actor=staff, case=case, action=ModerationAction.Action.DISMISS)
    guest.refresh_from_db()
    case.refresh_from_db()
    assert guest.is_active
    assert case.state == "dismissed"
    assert ModerationAction.objects.filter(action="dismiss", target=guest).exists()


def test_unknown_actions_are_refused(guest, staff) -> None:
    case = moderation.report_answer(user=guest, message_id=answered(guest).pk, reason="")
    with pytest.raises(AssistantError):
        moderation.decide(actor=staff, case=case, action="delete_everything")
    assert not ModerationAction.objects.exists()
