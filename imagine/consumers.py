"""The Imagine WebSocket (`ws/imagine`): authenticate, validate frames, hand work to the scheduler
and services, forward results. No business logic lives here.

One socket is one Imagine session: its seed is fixed when it connects, so the picture stays
stable as words are added. Every frame is read at once: a typed prompt only replaces the one
waiting to be offered, and one task per socket offers the newest (so a fast typist never backs the
socket up; the server stops reading a socket whose frames wait, its keepalive pongs included).
A flood of prompts beyond the rate limit is not lost: the newest waits for the next window and is
sent then. Previews older than the newest one shown are dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Coroutine
from typing import Any

from asgiref.sync import sync_to_async

from core.errors import AssistantError, ErrorCode
from core.websocket import SocketConsumer
from imagine import scheduler, services
from imagine.models import ImagineImage
from imagine.moderation import check_prompt, clean_instruction, clean_prompt
from imagine.protocol import (
    AnimateFrame,
    ClipFrame,
    EditFrame,
    ErrorFrame,
    FinalFrame,
    ImageFrame,
    ProgressFrame,
    PromptFrame,
    parse_client_frame,
)

logger = logging.getLogger(__name__)

Job = Coroutine[Any, Any, None]  # offering typed prompts, a final render, an edit or an animation


class ImagineConsumer(SocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.seed = secrets.randbelow(2**31)
        self.newest_shown = -1
        self.waiting_prompt: scheduler.Preview | None = None  # typed, not yet offered
        self.offering: asyncio.Task[None] | None = None  # the task that offers the waiting prompt
        self.jobs: set[asyncio.Task[None]] = set()  # this socket's offering, final renders, edits, animations
        await self.accept()
        await self.close_unless_signed_in()

    async def disconnect(self, code: int) -> None:
        for job in self.jobs:
            job.cancel()
        await self.leave_account()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        seq = None
        try:
            if text_data is None:
                raise AssistantError(ErrorCode.INVALID_FRAME, "Frames must be JSON text, not binary.")
            frame = parse_client_frame(text_data)
            seq = getattr(frame, "seq", None)
            if isinstance(frame, PromptFrame):
                self._prompt(frame)
            elif isinstance(frame, FinalFrame):
                self._start_job(self._final(frame), seq=frame.seq)
            elif isinstance(frame, EditFrame):
                self._start_job(self._edit(frame), seq=frame.seq)
            else:
                self._start_job(self._animate(frame), image_id=frame.image_id)
        except AssistantError as exc:
            await self._send(ErrorFrame(code=exc.code, detail=exc.detail, seq=seq).dump())

    # --- previews ----------------------------------------------------------------------

    def _prompt(self, frame: PromptFrame) -> None:
        size = services.size_named(frame.size)
        preview = scheduler.Preview(
            user_id=self.user.pk,
            prompt=clean_prompt(frame.prompt),  # refused at once, before a rate token is spent on it
            seed=self.seed,
            width=size.width,
            height=size.height,
            seq=frame.seq,
            reply_channel=self.channel_name,
        )
        self.waiting_prompt = preview  # replaces an older one not offered yet
        if self.offering is None or self.offering.done():
            self.offering = self._start_job(self._offer_waiting_prompts())

    async def _offer_waiting_prompts(self) -> None:
        """Offer the newest typed prompt until none waits. Over the rate limit it is held until the
        next window; newer prompts replace it meanwhile, so nothing older can overtake it."""
        while (preview := self.waiting_prompt) is not None:
            self.waiting_prompt = None
            wait = await sync_to_async(services.take_rate_token)(self.user.pk)
            if not wait:
                await scheduler.offer(preview)  # the scheduler runs the safety check on what it renders
                continue
            self.waiting_prompt = self.waiting_prompt or preview
            detail = "Typing faster than images can follow; the newest prompt is sent in a moment."
            await self._send(ErrorFrame(code=ErrorCode.RATE_LIMITED, detail=detail, seq=preview.seq).dump())
            await asyncio.sleep(wait)

    async def imagine_preview(self, event: dict) -> None:
        """A preview from the user's pump (any web process); older than the newest shown: dropped."""
        if event["seq"] <= self.newest_shown:
            return
        if json.loads(event["frame"])["type"] == "imagine.image":
            self.newest_shown = event["seq"]
        await self._send(event["frame"])

    # --- jobs: offering prompts, final renders, edits and animations ----------------

    def _start_job(self, work: Job, *, seq: int | None = None, image_id: int | None = None) -> asyncio.Task[None]:
        task = asyncio.create_task(self._reporting_errors(work, seq=seq, image_id=image_id))
        self.jobs.add(task)
        task.add_done_callback(self.jobs.discard)
        return task

    async def _reporting_errors(self, work: Job, *, seq: int | None, image_id: int | None) -> None:
        try:
            await work
        except AssistantError as exc:
            await self._send(ErrorFrame(code=exc.code, detail=exc.detail, seq=seq, image_id=image_id).dump())
        except Exception:
            logger.exception("imagine job failed")
            detail = "Something went wrong on our side."
            await self._send(ErrorFrame(code="internal", detail=detail, seq=seq, image_id=image_id).dump())

    def _client_ip(self) -> str | None:
        client = self.scope.get("client")
        return client[0] if client else None

    async def _final(self, frame: FinalFrame) -> None:
        size = services.size_named(frame.size)
        prompt = await check_prompt(frame.prompt, submitted_by=self.user.pk)
        await sync_to_async(services.check_render_limits)(self.user.pk, self._client_ip())
        image, ms = await services.render_final(
            user_id=self.user.pk, prompt=prompt, size=size, seed=self.seed, conversation_id=frame.conversation_id
        )
        await self._send_stored(image, seq=frame.seq, ms=ms)

    async def _edit(self, frame: EditFrame) -> None:
        async def progress(done: int, total: int) -> None:
            await self._send(ProgressFrame(image_id=frame.image_id, seq=frame.seq, done=done, total=total).dump())

        instruction = await check_prompt(clean_instruction(frame.instruction), submitted_by=self.user.pk)
        await sync_to_async(services.check_render_limits)(self.user.pk, self._client_ip())
        image, ms = await services.edit(
            user_id=self.user.pk, image_id=frame.image_id, instruction=instruction, seed=self.seed, on_progress=progress
        )
        await self._send_stored(image, seq=frame.seq, ms=ms)

    async def _send_stored(self, image: ImagineImage, *, seq: int, ms: float) -> None:
        """A final render or an edit, kept in the gallery, as the `imagine.image` that answers `seq`."""
        reply = ImageFrame(
            seq=seq,
            url=services.file_url(image, "image.png"),
            width=image.width,
            height=image.height,
            ms=ms,
            seed=image.seed,
            final=True,
            image_id=image.pk,
            edited_from=image.edited_from_id,
        )
        self.newest_shown = max(self.newest_shown, seq)  # a late preview must not replace it
        await self._send(reply.dump())

    async def _animate(self, frame: AnimateFrame) -> None:
        async def progress(done: int, total: int) -> None:
            await self._send(ProgressFrame(image_id=frame.image_id, done=done, total=total).dump())

        await sync_to_async(services.check_render_limits)(self.user.pk, self._client_ip())
        clip, ms = await services.animate(user_id=self.user.pk, image_id=frame.image_id, on_progress=progress)
        reply = ClipFrame(
            image_id=frame.image_id,
            clip_id=clip.pk,
            mp4_url=services.file_url(clip, "clip.mp4"),
            gif_url=services.file_url(clip, "clip.gif"),
            frames=clip.frames,
            fps=clip.fps,
            ms=ms,
        )
        await self._send(reply.dump())
