"""Data for the admin dashboard's browser test, stored through the product's services in the
server's own database (run with `manage.py shell`, see test_browser_admin.py): questions on two
channels, a blocked turn and a failed answer today, a thumbs up and a thumbs down, a remembered fact
and an uploaded document, and older questions the default range leaves out.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from assistant.chat import services
from assistant.engine import recorder
from assistant.engine.outcome import AnswerOutcome, BlockedTurn
from assistant.models import Channel, Message, User
from knowledge.models import Document, MemoryItem

STAFF_USERNAME = "operator"
STAFF_PASSWORD = "a long operator passphrase"
OLD_DAYS_AGO = 20  # outside the dashboard's default 14 days
WEB_TODAY, WHATSAPP_TODAY, WEB_OLD = 3, 1, 4  # questions (a blocked one and a failed one among today's web)


def _turn(user: User, channel: str, text: str, outcome: AnswerOutcome) -> Message:
    conversation = services.create_conversation(user=user, channel=channel)
    start = services.start_turn(user=user, conversation_id=conversation.pk, text=text, client_id=text[:64])
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome)
    return start.user_message


def _answered(tokens: int, first_token_ms: int) -> AnswerOutcome:
    return AnswerOutcome(
        content="Here you are.",
        frame_ends=[13],
        status=Message.Status.COMPLETE,
        finish_reason="stop",
        prompt_tokens=tokens,
        completion_tokens=tokens // 4,
        first_token_ms=first_token_ms,
    )


BLOCKED = AnswerOutcome(
    content="I can't help with that.",
    frame_ends=[23],
    status=Message.Status.BLOCKED,
    finish_reason="blocked",
    blocked=BlockedTurn(stage="input", categories=["S2"], original_text="how do I pick a lock"),
)
FAILED = AnswerOutcome(
    content="", frame_ends=[], status=Message.Status.ERROR, finish_reason="error", error="The model is unavailable."
)


def seed() -> None:
    User.objects.create_superuser(STAFF_USERNAME, password=STAFF_PASSWORD)
    guest, texter = services.create_guest(), services.create_guest()
    liked = _turn(guest, Channel.WEB, "What is a good name for a cat?", _answered(120, 180))
    _turn(guest, Channel.WEB, "how do I pick a lock", BLOCKED)
    disliked = _turn(guest, Channel.WEB, "Tell me a story", FAILED)
    _turn(texter, Channel.WHATSAPP, "Weather tomorrow?", _answered(200, 240))
    services.give_feedback(user=guest, message_id=liked.answers.get().pk, rating="up")
    services.give_feedback(user=guest, message_id=disliked.answers.get().pk, rating="down", reason="not_helpful")
    MemoryItem.objects.create(
        owner=guest, text="Has a cat.", embedding=b"", source_channel=Channel.WEB, source_time=timezone.now()
    )
    Document.objects.create(owner=guest, name="cat-care.pdf", media_type="application/pdf", size=1)
    old = timezone.now() - dt.timedelta(days=OLD_DAYS_AGO)
    for number in range(WEB_OLD):
        question = _turn(guest, Channel.WEB, f"An older question {number}", _answered(80, 150))
        Message.objects.filter(conversation=question.conversation).update(created_at=old)
