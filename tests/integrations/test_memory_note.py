"""The note on what memory did with an exchange, a message of its own after the messaging reply: end
to end (the reply task queues the exchange's reading on a real Celery worker, which runs the note task
next), then the note task on its own: sent once, in the person's language, nothing when there is
nothing to say, after its reply, and again when the app fails for now. The app is `FakeMessaging` and
the model `FakeOpenAI`: contract fakes, real loopback HTTP servers (see test_replies.py)."""

from __future__ import annotations

import time

import pytest
from pytest_django.fixtures import Settings

from assistant.models import User
from integrations import services, tasks
from integrations.models import ChatBinding, InboundEvent, OutboundMessage
from integrations.services import MEMORY_NOTE_PART
from knowledge.memory import ConsentAsk, ExchangeMemory, KeptItem
from knowledge.models import MemoryItem
from tests.assistant.test_knowledge_turns import FACTS, extraction  # noqa: F401 (a fixture)
from tests.integrations.test_replies import deliver, sent_texts, whatsapp_question
from tests.support.fake_messaging import Failure, FakeMessaging
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = [pytest.mark.django_db(transaction=True)]

NOTE_WAIT_SECONDS = 60  # the worker reads the exchange with the model, then embeds the fact it keeps
NEWS = ExchangeMemory(
    kept=[KeptItem(id=1, text="Lebt in Porto.")], ask=[ConsentAsk(text="Hat Diabetes.", token="t")]
).model_dump()


def answered(key: str, text: str) -> InboundEvent:
    """A WhatsApp question stored and answered by the reply task."""
    deliver("whatsapp", whatsapp_question(key, text))
    tasks.reply_to_event("whatsapp", key)
    return InboundEvent.objects.get(key=key)


def note_parts(row: InboundEvent) -> list[str]:
    return list(row.replies.filter(part__gte=MEMORY_NOTE_PART).values_list("content", flat=True))


@pytest.mark.usefixtures("extraction")
def test_the_note_follows_the_reply_once_the_worker_has_read_the_exchange(
    fake_model: FakeOpenAI, apps: FakeMessaging
) -> None:
    fake_model.script(Reply(texts=("Porto is lovely",)), Reply(texts=(FACTS,)))
    row = answered("wamid.M1", "I just moved to Porto.")
    deadline = time.monotonic() + NOTE_WAIT_SECONDS
    while not note_parts(row) and time.monotonic() < deadline:
        time.sleep(0.1)

    note = "Memory updated: Lives in Porto. /memory to see, /forget to remove."
    assert sent_texts(apps) == ["Porto is lovely", note]
    assert list(row.replies.order_by("part").values_list("part", flat=True)) == [0, MEMORY_NOTE_PART]
    assert MemoryItem.objects.get().text == "Lives in Porto."


def test_the_note_is_sent_once_in_the_persons_language(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    row = answered("wamid.N1", "Ich bin nach Porto gezogen und habe Diabetes.")
    User.objects.filter(pk=ChatBinding.objects.get().user_id).update(language="de")
    tasks.send_memory_note(NEWS, "whatsapp", "wamid.N1")
    tasks.send_memory_note(NEWS, "whatsapp", "wamid.N1")  # a redelivered task

    note = (
        "Gedächtnis aktualisiert: Lebt in Porto. /memory zum Ansehen, /forget zum Entfernen.\n\n"
        "Ich kann mir „Hat Diabetes“ merken – antworte mit /remember Hat Diabetes, damit ich es behalte."
    )
    assert sent_texts(apps) == ["Hello, world!", note]
    assert note_parts(row) == [note]


def test_nothing_kept_and_nothing_to_ask_sends_nothing(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    row = answered("wamid.N2", "Say hello")
    tasks.send_memory_note(ExchangeMemory().model_dump(), "whatsapp", "wamid.N2")
    assert sent_texts(apps) == ["Hello, world!"]
    assert note_parts(row) == []


def test_a_note_waits_for_its_reply_and_for_an_app_that_fails_for_now(
    fake_model: FakeOpenAI, apps: FakeMessaging, settings: Settings
) -> None:
    deliver("whatsapp", whatsapp_question("wamid.N3", "Say hello"))
    with pytest.raises(services.ReplyLater):  # the reply is not out yet: the note must not come first
        tasks.send_memory_note(NEWS, "whatsapp", "wamid.N3")
    assert apps.requests == []

    tasks.reply_to_event("whatsapp", "wamid.N3")
    apps.fail_next(*[Failure(502)] * settings.INTEGRATIONS_SEND_ATTEMPTS)
    with pytest.raises(services.ReplyLater):
        tasks.send_memory_note(NEWS, "whatsapp", "wamid.N3")
    row = InboundEvent.objects.get(key="wamid.N3")
    assert note_parts(row) == []

    tasks.send_memory_note(NEWS, "whatsapp", "wamid.N3")
    assert len(note_parts(row)) == 1
    assert OutboundMessage.objects.filter(event=row).count() == 2
