"""Writes of the messaging channels: storing inbound events once, binding chats to conversations,
and replying through the same door as the web chat (`assistant.door.answer_in_full`), once.

Webhook intake (`integrations.intake`) calls `ingest_events`; the Celery task `integrations.tasks.reply_to_event` calls
`reply_to_event`, which is safe to run any number of times for the same event: the user message is
stored under a client_id derived from the event, the answer is generated only while it is still
streaming, and each reply part is recorded when the app accepts it, so a re-run sends only the rest.
Edits and revokes go through the same task and are applied by `integrations.revisions`. A photo or a
voice note is downloaded and read first (`integrations.media`); only then is the turn stored, and the
file kept with the person's message.
The reply never waits for memory: the turn asks the worker that reads its exchange for facts to run
`integrations.tasks.send_memory_note` next, which says what memory kept as a message of its own.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

from celery import signature
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation

from assistant.chat.attachments import keep_with_turn
from assistant.chat.services import create_conversation, provisional_title
from assistant.conf import assistant_settings
from assistant.door import Attachment, AttachmentKind, TurnRequest, admit_before_reading, answer_in_full
from assistant.engine.outcome import text_reply
from assistant.models import Channel, Message, User
from core.errors import AssistantError, ErrorCode
from core.event_loop import run_sync
from core.text import NUL_REFUSAL
from imagine import services as imagine_services
from imagine.models import ImagineImage
from integrations import revisions
from integrations.adapters import MessagingAdapter, adapter_for
from integrations.delivery import SendError
from integrations.events import NUL_TEXT, Event, EventKind
from integrations.media import download_failed_sentence, read_attachment, refusal_sentence, unsupported_sentence
from integrations.models import ChatBinding, InboundEvent, OutboundMessage
from integrations.splitting import split_text
from knowledge.commands import exchange_note
from knowledge.memory import ExchangeMemory
from media.conf import media_settings
from media.service import speak_on_worker
from media.voice import AudioFormat

logger = logging.getLogger(__name__)

# What a new InboundEvent is given at ingestion; the other columns keep their defaults (NULL).
_INSERTED_COLUMNS = ("app", "key", "kind", "chat_id", "sender_id", "payload", "received_at", "reply_error")

# Longer than one answer takes to generate and send; a worker that died frees the event after it.
REPLY_LEASE = timedelta(minutes=5)
REPLY_KINDS = [kind for kind in EventKind if kind.needs_handling]  # the events the reply task takes
# How writing an answer fails, worded for the web chat: an app gets FAILED_ANSWER_REPLY instead. Any other
# failure is Imagine's (`/imagine`, a photo's `/imagine edit` caption, "make it watercolour"), whose
# reasons are sentences for the person.
GENERATION_FAILURES = frozenset(
    {
        ErrorCode.MODEL_ERROR,
        ErrorCode.MODEL_UNAVAILABLE,
        ErrorCode.CONTEXT_TOO_LONG,
        ErrorCode.SAFETY_UNAVAILABLE,
        ErrorCode.INTERNAL,
    }
)
IMAGINE_UNAVAILABLE_REPLY = "Sorry, Imagine is not available here yet. I can answer questions in text, though!"
TYPING_REFRESH_SHARE = 0.8  # typing is shown again when this share of its time has passed
IMAGINE_CAPTION = "Imagined with AI: {prompt}"
IMAGINE_CAPTION_CHARS = 1000  # within every app's caption limit
# The part number of the note on what memory kept from an exchange, sent after the reply: far past any
# reply's parts, so the note is recorded (and sent) once, whatever the reply's length.
MEMORY_NOTE_PART = 32000
NOTE_AFTER_REPLY_SECONDS = 5  # how soon a note that came before its reply went out is tried again
FAILED_ANSWER_REPLY = "Sorry, I couldn't answer that just now. Please try again in a moment."


class ReplyLater(Exception):
    """The reply cannot go out now but will be able to: ask again after `seconds`."""

    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.seconds = seconds


@dataclass(frozen=True)
class ReplyText:
    text: str


@dataclass(frozen=True)
class ReplyImage:
    url: str
    caption: str = ""


@dataclass(frozen=True)
class ReplyVoice:
    """The answer read aloud, spoken on the `media` worker when it is sent (a re-run that already sent
    it speaks nothing)."""

    text: str
    language: str


Reply = ReplyText | ReplyImage | ReplyVoice


# --- ingestion ------------------------------------------------------------------------------------


def ingest_events(events: Sequence[Event]) -> list[Event]:
    """Store events, from one delivery or several, in one statement; those stored now, in order.

    Events already stored (a redelivery, or a repeat inside the batch) are skipped: one statement
    inserts what is new and reports it (`ON CONFLICT DO NOTHING RETURNING`), so two deliveries of one
    event racing each other store and report it exactly once."""
    unique = list({(event.app, event.key): event for event in events}.values())
    if not unique:
        return []
    with connection.cursor() as cursor:  # one statement: atomic on its own, one round trip
        cursor.execute(*_insert_new_events(unique))
        stored = {(app, key) for app, key in cursor.fetchall()}
    fresh = [event for event in unique if (event.app, event.key) in stored]
    for event in fresh:
        if event.kind == EventKind.STATUS and event.error_code:
            logger.warning("%s: message %s failed: code %s", event.app, event.message_id, event.error_code)
    return fresh


def _insert_new_events(events: Sequence[Event]) -> tuple[str, list[object]]:
    """One INSERT of every event that skips those already stored and returns the (app, key) of the rest."""
    fields = [InboundEvent._meta.get_field(name) for name in _INSERTED_COLUMNS]
    received_at = timezone.now()
    params: list[object] = []
    for event in events:
        values = (event.app, event.key, event.kind, event.chat_id, event.sender_id, event.as_json(), received_at, "")
        params += [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(InboundEvent._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * len(events))} "
        f"ON CONFLICT ({quote('app')}, {quote('key')}) DO NOTHING RETURNING {quote('app')}, {quote('key')}"
    )
    return sql, params


def forget_events(events: Sequence[Event]) -> None:
    """Remove events stored but never queued for a reply, so that the app's redelivery stores them again."""
    if not events:
        return
    which = Q()
    for event in events:
        which |= Q(app=event.app, key=event.key)
    InboundEvent.objects.filter(which, handled_at__isnull=True, lease_until__isnull=True).delete()


# --- chats ------------------------------------------------------------------------------------------


def _messaging_user(app: Channel, sender_id: str) -> User:
    """The user of a messaging identity, created on first contact: it never signs in with a password."""
    defaults = {"is_guest": False, "password": make_password(None)}  # unusable, stored with the row
    user, _ = User.objects.get_or_create(username=f"{app}:{sender_id}"[:150], defaults=defaults)
    return user


def _adopt_legacy_binding(event: Event) -> ChatBinding | None:
    """A WhatsApp sender first known by phone number who now comes with a BSUID keeps their chat."""
    if not event.legacy_sender_id:
        return None
    legacy = event.legacy_sender_id
    updated = ChatBinding.objects.filter(app=event.app, chat_id=legacy, sender_id=legacy).update(
        chat_id=event.chat_id, sender_id=event.sender_id
    )
    return _find_binding(event) if updated else None


def _find_binding(event: Event) -> ChatBinding | None:
    query = ChatBinding.objects.filter(app=event.app, chat_id=event.chat_id, sender_id=event.sender_id)
    return query.select_related("user").first()  # the conversation by id only: the turn reads it itself


def bind_chat(event: Event) -> ChatBinding:
    """The user and conversation of the event's (app, chat, sender), created on first contact: each
    person keeps one conversation per chat (so, in a group, their own)."""
    if binding := _find_binding(event) or _adopt_legacy_binding(event):
        return binding
    try:
        with transaction.atomic():
            user = _messaging_user(event.app, event.sender_id)
            conversation = create_conversation(
                user=user, channel=event.app, title=provisional_title(event.text) if event.text else ""
            )
            return ChatBinding.objects.create(
                app=event.app, chat_id=event.chat_id, sender_id=event.sender_id, user=user, conversation=conversation
            )
    except IntegrityError:
        binding = _find_binding(event)  # a concurrent first message created it
        if binding is None:
            raise
        return binding


# --- replying -----------------------------------------------------------------------------------------


def reply_client_id(event: Event) -> str:
    """The user message's client_id: the same for every run of the task, at most 64 characters."""
    return hashlib.sha256(f"{event.app}:{event.key}".encode()).hexdigest()[:64]


def _turn_request(event: Event, binding: ChatBinding, attachment: Attachment | None) -> TurnRequest:
    fields = {
        "channel": event.app,
        "user": binding.user,
        "conversation_id": binding.conversation_id,
        "client_id": reply_client_id(event),
        # By name: integrations.tasks imports this module.
        "after_remembering": signature("integrations.tasks.send_memory_note", args=(event.app, event.key)),
    }
    if attachment is not None:
        return TurnRequest.with_attachment(attachment, caption=event.text, **fields)
    if event.kind == EventKind.IMAGINE:
        return TurnRequest.imagine(prompt=event.text, **fields)
    return TurnRequest(text=event.text, **fields)


def _answer(
    event: Event, binding: ChatBinding, attachment: Attachment | None = None, *, admitted: bool = False
) -> list[Reply]:
    """The pipeline's answer to a question, a photo, a voice note or an `/imagine` command: stored
    once, generated only while still streaming, and sent as the app can show it. `admitted`: its
    limits were counted before its photo or voice note was read."""
    try:
        request = replace(_turn_request(event, binding, attachment), admitted=admitted)
        outcome = run_sync(answer_in_full(request))
    except AssistantError as exc:
        return _refused(exc)
    if outcome.status == Message.Status.COMPLETE and outcome.image is not None:
        if not assistant_settings().public_url:  # a restyle in plain words: `/imagine` is stopped before
            logger.warning("%s: a picture answer needs ASSISTANT_PUBLIC_URL so the app can fetch it", event.app)
            return [ReplyText(IMAGINE_UNAVAILABLE_REPLY)]
        return [_picture(ImagineImage.objects.get(pk=outcome.image.id))]
    if (text := text_reply(outcome)) is not None:
        return [ReplyText(text)]
    logger.warning("%s event %s: the answer ended %s: %s", event.app, event.key, outcome.status, outcome.error)
    if outcome.error and outcome.error_code not in GENERATION_FAILURES:
        return [ReplyText(outcome.error)]  # Imagine's reasons are sentences for the user (a limit, no worker)
    return [ReplyText(FAILED_ANSWER_REPLY)]


def _refused(exc: AssistantError) -> list[Reply]:
    if exc.code == ErrorCode.TURN_IN_PROGRESS:
        raise ReplyLater("another message of this chat is being answered", seconds=5) from exc
    return [ReplyText(exc.detail)]  # empty, too long, too many: the sentence says what to do


def _picture(image: ImagineImage) -> ReplyImage:
    """A final render as the apps take pictures: a signed link they fetch, with a caption."""
    url = imagine_services.public_file_url(image, "image.png", assistant_settings().public_url)
    return ReplyImage(url, caption=IMAGINE_CAPTION.format(prompt=image.prompt)[:IMAGINE_CAPTION_CHARS])


def _answer_media(event: Event, binding: ChatBinding, adapter: MessagingAdapter) -> list[Reply]:
    """A photo or a voice note, read before anything is stored: a refused file gets its sentence and
    leaves no message behind. A download the app may serve later is tried again (ReplyLater). What was
    read is kept with the person's message (assistant/chat/attachments.py), owner-only."""
    try:  # counted before the worker reads anything: a flood of photos is refused first
        run_sync(admit_before_reading(_turn_request(event, binding, None)))
    except AssistantError as exc:
        return _refused(exc)
    language = binding.user.language
    with translation.override(language or None):
        try:
            sent = read_attachment(event, adapter, language=language)
        except AssistantError as exc:
            logger.info("%s event %s: %s not read: %s %s", event.app, event.key, event.kind, exc.code, exc.detail)
            return [ReplyText(refusal_sentence(exc, event.kind))]
        except SendError as exc:
            if exc.transient:
                raise ReplyLater(str(exc), seconds=exc.failure.retry_after or 30) from exc
            logger.warning("%s event %s: %s not downloaded: %s", event.app, event.key, event.kind, exc)
            return [ReplyText(download_failed_sentence())]
    kept = sent.keep(owner=binding.user, client_id=reply_client_id(event))
    try:
        replies = _answer(event, binding, sent.attachment, admitted=True)
    finally:  # kept with the stored message, or deleted when none was stored (a limit; a busy chat)
        keep_with_turn(kept, conversation_id=binding.conversation_id)
    return replies + _read_aloud(replies, sent.attachment, binding.user)


def _read_aloud(replies: list[Reply], attachment: Attachment | None, user: User) -> list[Reply]:
    """Every reply is read aloud too when the person switched voice replies on (Settings); otherwise a
    voice note is (MEDIA_VOICE_REPLY_TO_VOICE). In the language a voice note was spoken in when the
    recogniser heard it, else the person's."""
    text = "\n\n".join(reply.text for reply in replies if isinstance(reply, ReplyText))
    voice = attachment if attachment is not None and attachment.kind is AttachmentKind.VOICE else None
    wanted = user.voice_replies or (voice is not None and media_settings().voice_reply_to_voice)
    if not (wanted and text):
        return []
    if voice is not None and voice.language_detected:
        return [ReplyVoice(text, voice.language)]
    return [ReplyVoice(text, user.language or (voice.language if voice else settings.LANGUAGE_CODE[:2]))]


def _unsupported(event: Event) -> ReplyText:
    if event.detail == NUL_TEXT:
        return ReplyText(NUL_REFUSAL)
    binding = _find_binding(event)  # a first message the assistant cannot read binds no chat yet
    with translation.override((binding.user.language or None) if binding else None):
        return ReplyText(unsupported_sentence(event.detail))


def _compose(event: Event, adapter: MessagingAdapter) -> list[Reply]:
    if event.kind == EventKind.UNSUPPORTED:
        return [_unsupported(event)]
    if event.kind == EventKind.IMAGINE and not assistant_settings().public_url:
        logger.warning("%s: /imagine needs ASSISTANT_PUBLIC_URL so the app can fetch the picture", event.app)
        return [ReplyText(IMAGINE_UNAVAILABLE_REPLY)]
    binding = bind_chat(event)
    if event.kind.has_media:
        return _answer_media(event, binding, adapter)
    replies = _answer(event, binding)
    return replies + _read_aloud(replies, None, binding.user)


def _parts(replies: list[Reply], adapter: MessagingAdapter) -> list[tuple[OutboundMessage.Kind, str, str]]:
    """(kind, content, detail) of every message to send, texts split at the app's limit; the detail is
    an image's caption or a voice note's language."""
    parts: list[tuple[OutboundMessage.Kind, str, str]] = []
    for reply in replies:
        if isinstance(reply, ReplyImage):
            parts.append((OutboundMessage.Kind.IMAGE, reply.url, reply.caption))
        elif isinstance(reply, ReplyVoice):
            parts.append((OutboundMessage.Kind.VOICE, reply.text, reply.language))
        else:
            parts += [(OutboundMessage.Kind.TEXT, text, "") for text in split_text(reply.text, adapter.text_limit)]
    return parts


def _send_parts(
    row: InboundEvent,
    event: Event,
    adapter: MessagingAdapter,
    replies: list[Reply],
    sent: set[int],
    first_part: int = 0,
) -> None:
    """Send the parts not `sent` yet, numbered from `first_part`; in a group the reply's first quotes the question."""
    in_group = event.chat_id != event.sender_id
    for index, (kind, content, detail) in enumerate(_parts(replies, adapter), start=first_part):
        if index in sent:
            continue
        try:
            if kind == OutboundMessage.Kind.IMAGE:
                external_id = adapter.send_image(event, content, detail)
            elif kind == OutboundMessage.Kind.VOICE:
                if (audio := _spoken(event, adapter.voice_format, content, detail)) is None:
                    continue
                external_id = adapter.send_voice(event, audio)
            else:
                external_id = adapter.send_text(event, content, quote=in_group and index == 0)
        except SendError as exc:
            if exc.transient:
                raise ReplyLater(str(exc), seconds=exc.failure.retry_after or 30) from exc
            logger.error("%s event %s: reply refused for good: %s", event.app, event.key, exc)
            row.reply_error = f"{exc.failure.code}: {exc.failure.detail}"[:500]
            return
        OutboundMessage.objects.create(event=row, part=index, kind=kind, content=content, external_id=external_id)


def _spoken(event: Event, audio_format: AudioFormat, text: str, language: str) -> bytes | None:
    """The text read aloud in the app's voice-note format; None when it cannot be (the text went out)."""
    try:
        return run_sync(speak_on_worker(text, language=language, audio_format=audio_format)).data
    except AssistantError as exc:  # too long to read aloud, or no `media` worker
        logger.info("%s event %s: answer not read aloud: %s %s", event.app, event.key, exc.code, exc.detail)
        return None


def _acknowledge(event: Event, adapter: MessagingAdapter) -> None:
    """Read receipt and typing indicator: nice to have, never worth failing the reply for."""
    try:
        adapter.acknowledge(event)
    except SendError as exc:
        logger.info("%s event %s: no read receipt/typing indicator: %s", event.app, event.key, exc)


@contextmanager
def _typing_shown(event: Event, adapter: MessagingAdapter) -> Iterator[None]:
    """Keep "typing…" on screen while the answer is written, however long that takes, from a
    thread of its own (the adapter's HTTP client is safe to share between threads)."""
    done = threading.Event()

    def refresh() -> None:
        while not done.wait(adapter.typing_lasts_seconds * TYPING_REFRESH_SHARE):
            try:
                adapter.keep_typing(event)
            except SendError as exc:
                logger.info("%s event %s: typing indicator not refreshed: %s", event.app, event.key, exc)
                return

    thread = threading.Thread(target=refresh, name=f"typing-{event.key}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _claim(app: Channel, key: str) -> bool:
    """Take the event with a lease, if it is one the task takes and no task holds or finished it."""
    lease = timezone.now() + REPLY_LEASE
    claimable = InboundEvent.objects.claimable().filter(app=app, key=key, kind__in=REPLY_KINDS)
    return bool(claimable.update(lease_until=lease))


def unanswered_events(*, quiet_for: timedelta, within: timedelta) -> list[tuple[str, str]]:
    """(app, key) of events that need the reply task, were not handled, are not being handled, and
    were received between `within` and `quiet_for` ago: their task was lost (a broker that lost its
    queue) or ran out of retries. Older ones are left alone: the apps' reply windows have closed."""
    now = timezone.now()
    rows = InboundEvent.objects.claimable().filter(
        kind__in=REPLY_KINDS, received_at__lt=now - quiet_for, received_at__gt=now - within
    )
    return list(rows.values_list("app", "key"))


def _apply_revision(row: InboundEvent) -> bool:
    """Apply the event if it revokes or edits a message, or a revoke of its own message that came
    first; whether anything is left to answer."""
    event = row.event
    if event.kind == EventKind.DELETED:
        revisions.apply_revoke(event)
        return False
    if revisions.apply_stored_revoke(row):
        return False
    return not event.is_edit or revisions.edit_needs_own_answer(event)


def _reply(row: InboundEvent, *, partly_sent: bool) -> None:
    """Answer the event; `partly_sent`: an earlier run sent some of its parts (the lease keeps others out)."""
    event = row.event
    adapter = adapter_for(event.app)
    sent = set(row.replies.values_list("part", flat=True)) if partly_sent else set()
    if not sent:
        _acknowledge(event, adapter)
    with _typing_shown(event, adapter):
        replies = _compose(event, adapter)
    _send_parts(row, event, adapter, replies, sent)


def send_memory_note(*, result: object, app: Channel, key: str) -> None:
    """Tell the person what memory did with the exchange answering event (app, key) (`result`: the
    `remember_exchange` task's ExchangeMemory), in their language, as a message after the reply; sent
    once however often it runs, nothing when memory kept nothing and asks nothing. Raises ReplyLater
    while the reply is not out yet or the app fails for now; a note refused for good is only logged
    (the event's `reply_error` stays the reply's)."""
    news = ExchangeMemory.model_validate(result)
    row = InboundEvent.objects.get(app=app, key=key)
    if row.handled_at is None:
        raise ReplyLater("the reply this note follows is not sent yet", seconds=NOTE_AFTER_REPLY_SECONDS)
    event = row.event
    binding = _find_binding(event)
    with translation.override((binding.user.language or None) if binding else None):
        note = exchange_note(news).strip()
    if not note:
        return
    sent = set(row.replies.values_list("part", flat=True))
    _send_parts(row, event, adapter_for(app), [ReplyText(note)], sent, first_part=MEMORY_NOTE_PART)


def reply_to_event(*, app: Channel, key: str) -> None:
    """Handle one stored event at most once however often it runs: answer it, or apply it to the
    message it revokes. Raises ReplyLater when it must run again later (another worker holds the
    event, the chat is busy, or the app is failing)."""
    claimed = _claim(app, key)
    # Read after the claim: until it, an edit or a revoke may land. Whether a part went out already
    # rides along, so a first run (nearly every one) reads no parts.
    partly_sent = Exists(OutboundMessage.objects.filter(event=OuterRef("pk")))
    row = InboundEvent.objects.annotate(partly_sent=partly_sent).get(app=app, key=key)
    if not claimed:
        if row.handled_at is None and row.event.kind.needs_handling:
            raise ReplyLater("another worker is replying to this event", seconds=30)
        return
    try:
        if _apply_revision(row):
            _reply(row, partly_sent=row.partly_sent)
        row.handled_at = timezone.now()
    finally:
        row.lease_until = None
        row.save(update_fields=["lease_until", "handled_at", "reply_error"])
