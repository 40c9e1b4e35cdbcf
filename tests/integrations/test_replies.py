"""The reply task in process: webhook → stored event → `reply_to_event` → the pipeline (start_turn +
TurnRunner) → the app. The model is `FakeOpenAI` and the apps are `FakeMessaging`: contract fakes,
real loopback HTTP servers speaking vLLM's and the apps' wire formats, so failures can be scripted.
The same task against the real embedded model is in test_live_replies.py."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from assistant import tasks as assistant_tasks
from assistant.chat.services import start_turn
from assistant.models import Channel, Conversation, Message
from core.text import NUL_REFUSAL
from integrations import services, tasks
from integrations.adapters.telegram import TelegramAdapter
from integrations.media import unsupported_sentence
from integrations.models import ChatBinding, InboundEvent, OutboundMessage
from integrations.splitting import utf8_bytes
from tests.integrations import payloads as p
from tests.integrations.conftest import APP_SECRET, TELEGRAM_SECRET
from tests.support.fake_messaging import Failure, FakeMessaging
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = [pytest.mark.django_db(transaction=True)]


def deliver(app: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    if app == "telegram":
        headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    else:
        headers = {"X-Hub-Signature-256": "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()}
    response = Client().post(f"/webhooks/{app}", body, content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content


def whatsapp_question(message_id: str, text: str, **extra: Any) -> dict[str, Any]:
    bsuid = extra.pop("bsuid", True)
    message = p.whatsapp_text(message_id, text, **extra)
    if not bsuid:
        del message["from_user_id"]
    return p.whatsapp_delivery(p.whatsapp_value(message, bsuid=bsuid))


def sent_texts(apps: FakeMessaging) -> list[str]:
    texts = []
    for request in apps.sent():
        body = request.body
        texts.append(body.get("text", {}).get("body") if "messaging_product" in body else
                     body.get("text") or body.get("message", {}).get("text"))  # fmt: skip
    return texts


def test_whatsapp_question_is_answered_once_through_the_pipeline(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.Q1", "Say hello"))
    tasks.reply_to_event("whatsapp", "wamid.Q1")

    receipt, answer = (r.body for r in apps.requests)
    assert receipt["status"] == "read"
    assert receipt["message_id"] == "wamid.Q1"
    assert answer["to"] == p.CUSTOMER_PHONE
    assert answer["text"]["body"] == "Hello, world!"
    binding = ChatBinding.objects.select_related("user", "conversation").get()
    assert binding.user.username == f"whatsapp:{p.CUSTOMER_BSUID}"
    assert not binding.user.is_guest
    assert not binding.user.has_usable_password()
    assert binding.conversation.channel == Channel.WHATSAPP
    question, reply = binding.conversation.messages.order_by("id")
    assert (question.content, reply.content, reply.status) == ("Say hello", "Hello, world!", Message.Status.COMPLETE)
    event = InboundEvent.objects.get(key="wamid.Q1")
    assert event.handled_at is not None
    assert event.lease_until is None
    assert list(event.replies.values_list("part", "content")) == [(0, "Hello, world!")]

    tasks.reply_to_event("whatsapp", "wamid.Q1")  # a redelivered task
    assert len(apps.requests) == 2
    assert len(fake_model.requests) == 1
    assert Message.objects.count() == 2


def test_next_message_continues_the_same_conversation(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    for key, text in (("wamid.C1", "My name is Ada"), ("wamid.C2", "What is my name?")):
        deliver("whatsapp", whatsapp_question(key, text))
        tasks.reply_to_event("whatsapp", key)
    assert Conversation.objects.count() == 1
    history = [content for role, content in fake_model.requests[-1].chatml_messages if role != "system"]
    assert history == ["My name is Ada", "Hello, world!", "What is my name?"]


def test_sender_known_by_phone_keeps_the_conversation_when_a_bsuid_appears(
    fake_model: FakeOpenAI, apps: FakeMessaging
) -> None:
    deliver("whatsapp", whatsapp_question("wamid.L1", "Before usernames", bsuid=False))
    tasks.reply_to_event("whatsapp", "wamid.L1")
    deliver("whatsapp", whatsapp_question("wamid.L2", "After usernames"))
    tasks.reply_to_event("whatsapp", "wamid.L2")
    binding = ChatBinding.objects.get()
    assert (binding.chat_id, binding.sender_id) == (p.CUSTOMER_BSUID, p.CUSTOMER_BSUID)
    assert Conversation.objects.get().messages.count() == 4


def test_long_answer_is_split_at_instagrams_byte_limit(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    sentences = [f"Sentence number {i} says ünïcödé things." for i in range(80)]
    fake_model.script(Reply(texts=[s + " " for s in sentences]))
    item = p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, message={"mid": "ig_L", "text": "Tell me a lot"})
    deliver("instagram", p.messaging_delivery("instagram", item, page=p.IG_ACCOUNT_ID))
    tasks.reply_to_event("instagram", "ig_L")
    texts = sent_texts(apps)
    assert len(texts) > 3
    assert all(utf8_bytes(t) <= 1000 and t.endswith(".") for t in texts)
    assert " ".join(texts) == " ".join(sentences)


def test_reply_cut_off_mid_way_sends_only_the_missing_parts(
    fake_model: FakeOpenAI, apps: FakeMessaging, settings: Settings
) -> None:
    fake_model.script(Reply(texts=["First paragraph. " * 100, "\n\n", "Second paragraph. " * 100]))
    item = p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_K", "text": "Go"})
    deliver("messenger", p.messaging_delivery("page", item))
    apps.fail_content(None, *[Failure(502)] * settings.INTEGRATIONS_SEND_ATTEMPTS)  # the second part fails
    with pytest.raises(services.ReplyLater):
        tasks.reply_to_event("messenger", "m_K")
    assert OutboundMessage.objects.count() == 1

    tasks.reply_to_event("messenger", "m_K")
    first, second = OutboundMessage.objects.values_list("content", flat=True)
    assert len(fake_model.requests) == 1  # the answer was generated once
    accepted = [r.body["message"]["text"] for r in apps.sent() if r.body["message"]["text"] in {first, second}]
    assert len(accepted) == 2 + settings.INTEGRATIONS_SEND_ATTEMPTS  # the second part was tried 3 + 1 times
    assert accepted.count(first) == 1  # the first part went out once
    assert InboundEvent.objects.get().handled_at is not None


def test_task_that_died_while_generating_generates_again_and_replies_once(
    fake_model: FakeOpenAI, apps: FakeMessaging
) -> None:
    deliver("whatsapp", whatsapp_question("wamid.G1", "Say hello"))
    event = InboundEvent.objects.get()
    # What a worker killed mid-generation leaves: the turn stored, the answer streaming, a lapsed lease.
    binding = services.bind_chat(event.event)
    start_turn(user=binding.user, conversation_id=binding.conversation_id, text="Say hello",
               client_id=services.reply_client_id(event.event))  # fmt: skip
    InboundEvent.objects.update(lease_until=timezone.now() - timedelta(seconds=1))

    tasks.reply_to_event("whatsapp", "wamid.G1")
    assert sent_texts(apps) == ["Hello, world!"]
    assert Message.objects.filter(role=Message.Role.USER).count() == 1


def test_event_held_by_another_worker_is_left_for_later(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.H1", "Say hello"))
    InboundEvent.objects.update(lease_until=timezone.now() + timedelta(minutes=1))
    with pytest.raises(services.ReplyLater, match="another worker"):
        tasks.reply_to_event("whatsapp", "wamid.H1")
    assert apps.requests == []
    assert fake_model.requests == []


def test_permanent_send_failure_is_recorded_and_not_retried(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.P1", "Say hello"))
    apps.fail_content(Failure(400, code=131047, message="Re-engagement message"))
    tasks.reply_to_event("whatsapp", "wamid.P1")
    event = InboundEvent.objects.get()
    assert event.reply_error == "131047: Re-engagement message"
    assert event.handled_at is not None
    assert not event.replies.exists()
    tasks.reply_to_event("whatsapp", "wamid.P1")
    assert len(apps.requests) == 2


def test_unsupported_message_gets_its_sentence_without_the_model(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    sticker = {"file_id": "CAAC", "file_unique_id": "AgAD", "width": 512, "height": 512, "type": "regular"}
    deliver("telegram", p.telegram_update(700, message=p.telegram_message(9, None, sticker=sticker)))
    tasks.reply_to_event("telegram", "700")
    assert sent_texts(apps) == [unsupported_sentence("sticker")]
    assert fake_model.requests == []
    assert not Conversation.objects.exists()


def test_imagine_goes_to_the_hook(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.I1", "/imagine a red fox"))
    tasks.reply_to_event("whatsapp", "wamid.I1")
    assert sent_texts(apps) == [services.IMAGINE_UNAVAILABLE_REPLY]
    assert fake_model.requests == []


def test_model_failure_sends_an_apology(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    fake_model.script(Reply(status=500))
    deliver("whatsapp", whatsapp_question("wamid.M1", "Say hello"))
    tasks.reply_to_event("whatsapp", "wamid.M1")
    assert sent_texts(apps) == [services.FAILED_ANSWER_REPLY]
    assert Message.objects.get(role=Message.Role.ASSISTANT).status == Message.Status.ERROR


def test_busy_chat_leaves_the_next_message_for_later(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.T1", "first"))
    deliver("whatsapp", whatsapp_question("wamid.T2", "second"))
    first = InboundEvent.objects.get(key="wamid.T1").event
    binding = services.bind_chat(first)
    start_turn(
        user=binding.user,
        conversation_id=binding.conversation_id,
        text="first",
        client_id=services.reply_client_id(first),
    )  # fmt: skip  (its answer is still streaming)
    with pytest.raises(services.ReplyLater, match="being answered"):
        tasks.reply_to_event("whatsapp", "wamid.T2")
    assert InboundEvent.objects.get(key="wamid.T2").lease_until is None  # free for the retry


def test_telegram_group_members_each_get_their_own_conversation_and_quoted_replies(
    fake_model: FakeOpenAI, apps: FakeMessaging
) -> None:
    mention = f"@{p.BOT_USERNAME}"
    for update_id, user_id in ((801, 1111111), (802, 2222222)):
        message = p.telegram_message(update_id, f"{mention} hi", chat_id=-1001234567890, chat_type="supergroup",
                                     entities=[{"type": "mention", "offset": 0, "length": len(mention)}])  # fmt: skip
        message["from"] = p.telegram_user(user_id, f"user{user_id}")
        deliver("telegram", p.telegram_update(update_id, message=message))
        tasks.reply_to_event("telegram", str(update_id))
    assert ChatBinding.objects.filter(chat_id="-1001234567890").count() == 2
    assert Conversation.objects.count() == 2
    replies = [r.body for r in apps.sent()]
    assert [r["reply_parameters"]["message_id"] for r in replies] == [801, 802]


def test_events_left_unanswered_are_queued_again_once_quiet(
    fake_model: FakeOpenAI, messaging_settings: FakeMessaging, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setattr(tasks.reply_to_events, "delay", lambda events: None)
    queued: list[tuple[str, str]] = []
    monkeypatch.setattr(tasks.reply_to_event, "delay", lambda app, key: queued.append((app, key)))
    deliver("whatsapp", whatsapp_question("wamid.LOST", "Hello?"))
    deliver("whatsapp", whatsapp_question("wamid.FRESH", "Hi?"))
    deliver("whatsapp", whatsapp_question("wamid.DONE", "Hey?"))
    deliver("whatsapp", whatsapp_question("wamid.OLD", "Anyone?"))
    now = timezone.now()
    InboundEvent.objects.filter(key__in=["wamid.LOST", "wamid.DONE"]).update(received_at=now - timedelta(minutes=30))
    InboundEvent.objects.filter(key="wamid.OLD").update(received_at=now - timedelta(days=2))
    tasks.reply_to_event("whatsapp", "wamid.DONE")
    queued.clear()

    assert tasks.requeue_unanswered() == 1
    assert queued == [("whatsapp", "wamid.LOST")]  # not the fresh, the answered, nor the expired one


def test_typing_stays_on_screen_while_a_slow_answer_is_written(
    fake_model: FakeOpenAI, apps: FakeMessaging, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TelegramAdapter, "typing_lasts_seconds", 0.25)  # Telegram's is 5 s
    fake_model.script(Reply(texts=["Slow", " answer."], stall_before_first=1.5))
    deliver("telegram", p.telegram_update(801, message=p.telegram_message(31, "Take your time")))
    tasks.reply_to_event("telegram", "801")
    typing = [r for r in apps.requests if r.path.endswith("/sendChatAction")]
    assert len(typing) >= 4  # the first, then one every 0.2 s of the 1.5 s wait
    assert sent_texts(apps) == ["Slow answer."]
    assert apps.requests[-1].path.endswith("/sendMessage")  # no typing after the answer


def test_a_question_with_a_nul_character_is_stored_once_and_answered_with_why(
    fake_model: FakeOpenAI, apps: FakeMessaging
) -> None:
    deliver("whatsapp", whatsapp_question("wamid.N1", "hi\x00there"))
    deliver("whatsapp", whatsapp_question("wamid.N1", "hi\x00there"))  # the app's redelivery
    tasks.reply_to_event("whatsapp", "wamid.N1")
    assert sent_texts(apps) == [NUL_REFUSAL]
    assert InboundEvent.objects.filter(key="wamid.N1").count() == 1
    assert fake_model.requests == []
    assert not Message.objects.exists()


def test_questions_past_the_messaging_limit_are_answered_with_when_to_retry(
    fake_model: FakeOpenAI, apps: FakeMessaging, settings: Settings
) -> None:
    year = 365 * 24 * 3600  # one window for the whole test: it cannot straddle two
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, "messaging_per_user": f"1/{year}"}
    cache.clear()
    for key in ("wamid.L1", "wamid.L2"):
        deliver("whatsapp", whatsapp_question(key, "Say hello"))
        tasks.reply_to_event("whatsapp", key)
    answered, refused = sent_texts(apps)
    assert answered == "Hello, world!"
    assert refused.startswith(f"Too many requests: at most 1 every {year} seconds.")
    assert len(fake_model.requests) == 1
    assert Message.objects.filter(role=Message.Role.USER).count() == 1


def test_a_messaging_conversation_gets_no_model_written_title(
    fake_model: FakeOpenAI, apps: FakeMessaging, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app shows its own chat, never the conversation's title: no second model call for one."""
    settings.ASSISTANT_MODEL_TITLES = True
    titled: list[tuple[object, ...]] = []
    monkeypatch.setattr(assistant_tasks.title_conversation, "delay", lambda *args: titled.append(args))
    deliver("whatsapp", whatsapp_question("wamid.T1", "Plan a weekend in Lisbon"))
    tasks.reply_to_event("whatsapp", "wamid.T1")
    assert sent_texts(apps) == ["Hello, world!"]
    assert titled == []
    assert Conversation.objects.get().title == "Plan a weekend in Lisbon"  # the provisional one, kept
