"""Turns as the engine sees them: what the model needs to write an answer (`load_turn`), and the
answers running in this process (`launch`, `drain`)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import TYPE_CHECKING

from assistant.chat import selectors
from assistant.conf import assistant_settings
from assistant.engine.capabilities import ImageRequest
from assistant.engine.pipeline import HistoryMessage, Sampling, Turn
from assistant.models import Channel, Conversation, Message
from imagine.commands import imagine_prompt

if TYPE_CHECKING:
    from assistant.engine.outcome import AnswerOutcome
    from assistant.engine.runner import TurnRunner

logger = logging.getLogger(__name__)

_running: set[asyncio.Task[AnswerOutcome]] = set()


def launch(runner: TurnRunner) -> asyncio.Task[AnswerOutcome]:
    """Start generating an answer in this process; the task outlives the socket that asked."""
    # A fresh context: a task started inside an HTTP request would otherwise inherit that request's
    # thread-sensitive executor (asgiref), which is shut down when the response ends.
    task = asyncio.create_task(runner.run(), name=f"answer-{runner.answer_id}", context=contextvars.Context())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def drain(grace_seconds: float) -> None:
    """Let the answers running in this process finish for up to `grace_seconds`, then cancel the
    rest, which keep their text and end `interrupted`. Called once the server stopped accepting."""
    running = set(_running)
    if not running:
        return
    logger.info("shutdown: waiting up to %.0fs for %d answer(s)", grace_seconds, len(running))
    _, unfinished = await asyncio.wait(running, timeout=grace_seconds)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    if unfinished:
        logger.warning("shutdown: %d answer(s) cut off after the grace period", len(unfinished))


def system_prompt_for(conversation: Conversation) -> str:
    """The operator's system prompt, then the client's own instructions (API callers send them)."""
    return "\n\n".join(p for p in (assistant_settings().system_prompt, conversation.instructions) if p)


def load_turn(
    answer: Message,
    *,
    sampling: Sampling | None = None,
    search_mode: str | None = None,
    image_prompt: str | None = None,
) -> Turn:
    """What the model needs to write `answer`: the system prompt and the history it replies to.
    `image_prompt` is the prompt of an `/imagine` turn when the caller already read it; otherwise
    the question is read for one (an answer re-run from what is stored)."""
    history = [
        HistoryMessage(id=m.id, role=m.role, content=m.content, token_count=m.token_count)
        for m in selectors.prompt_history(answer=answer)
    ]
    conversation = answer.conversation
    return Turn(
        system_prompt=system_prompt_for(conversation),
        history=history,
        sampling=sampling or Sampling(),
        search_mode=search_mode or conversation.owner.search_mode,
        image_request=_image_request(conversation, history, image_prompt),
    )


def _image_request(
    conversation: Conversation, history: list[HistoryMessage], image_prompt: str | None
) -> ImageRequest | None:
    """A picture for `/imagine <prompt>`, except on the /v1 API, whose answers are text only."""
    if conversation.channel == Channel.API or not history or history[-1].role != Message.Role.USER:
        return None
    prompt = image_prompt if image_prompt is not None else imagine_prompt(history[-1].content)
    if prompt is None:
        return None
    return ImageRequest(prompt=prompt, owner_id=conversation.owner_id, conversation_id=conversation.pk)


def load_turn_by_id(answer_id: int) -> Turn:
    return load_turn(Message.objects.select_related("conversation").get(pk=answer_id))
