"""The consumer's recovery from lost and reordered frames, driven frame by frame: the real
ChatConsumer on Channels' in-memory layer, with the test playing the answer's runner on the
same groups a TurnRunner uses. (Under load a Redis channel layer delivers exactly these cases.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer

from assistant.chat import services
from assistant.engine import recorder, sinks
from assistant.engine.frames import DoneFrame, FinishReason, TokenFrame, Usage
from assistant.engine.outcome import AnswerOutcome
from assistant.models import Message
from assistant.web import consumers

pytestmark = pytest.mark.django_db(transaction=True)


class PlayedRunner:
    """Listens where a TurnRunner listens and publishes what it would publish."""

    def __init__(self, answer_id: int) -> None:
        self.answer_id = answer_id
        self.layer = get_channel_layer()

    async def start(self) -> None:
        self.control = await self.layer.new_channel()
        await self.layer.group_add(sinks.control_group(self.answer_id), self.control)

    async def next_request(self) -> dict[str, Any]:
        return await self.layer.receive(self.control)

    async def publish(self, seq: int, text: str) -> None:
        frame = TokenFrame(message_id=self.answer_id, seq=seq, text=text).dump()
        await self._group_send(seq, frame, final=False)

    async def publish_done(self, seq: int) -> None:
        done = DoneFrame(
            message_id=self.answer_id,
            seq=seq,
            finish_reason=FinishReason.STOP,
            usage=Usage(prompt_tokens=1, completion_tokens=seq),
            error=None,
        )
        await self._group_send(seq, done.dump(), final=True)

    async def replay(self, request: dict[str, Any], frames: list[tuple[int, str]]) -> None:
        dumped = [TokenFrame(message_id=self.answer_id, seq=s, text=t).dump() for s, t in frames]
        seq = frames[-1][0] if frames else request["after_seq"]
        message = {"type": "answer.replay", "message_id": self.answer_id, "frames": dumped, "seq": seq}
        await self.layer.send(request["reply_channel"], message)

    async def _group_send(self, seq: int, frame: str, *, final: bool) -> None:
        event = {"type": "answer.frame", "message_id": self.answer_id, "seq": seq, "frame": frame, "final": final}
        await self.layer.group_send(sinks.answer_group(self.answer_id), event)


@pytest.fixture
async def streaming_answer() -> tuple[Any, int]:
    user = await sync_to_async(services.create_guest)()
    start = await sync_to_async(services.start_turn)(user=user, conversation_id=None, text="Hi", client_id="c1")
    return user, start.answer.pk


class Browser:
    """The socket side of the ASGI WebSocket protocol, speaking to the consumer directly
    (channels.testing's communicator would pull in daphne)."""

    def __init__(self, user: Any, application: Any = None) -> None:
        scope = {"type": "websocket", "path": "/ws/chat", "headers": [], "query_string": b"", "user": user}
        self.asgi = ApplicationCommunicator(application or consumers.ChatConsumer.as_asgi(), scope)

    async def connect(self) -> None:
        await self.asgi.send_input({"type": "websocket.connect"})
        assert (await self.asgi.receive_output(5))["type"] == "websocket.accept"

    async def send(self, frame: dict[str, Any]) -> None:
        await self.asgi.send_input({"type": "websocket.receive", "text": json.dumps(frame)})

    async def connect_and_resume(self, answer_id: int) -> None:
        await self.connect()
        resume = {"type": "resume", "message_id": answer_id, "after_seq": 0}
        await self.send(resume)

    async def received(self, count: int) -> list[tuple[str, int]]:
        frames = [json.loads((await self.asgi.receive_output(5))["text"]) for _ in range(count)]
        return [(frame["type"], frame["seq"]) for frame in frames]

    async def close(self) -> None:
        await self.asgi.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.asgi.wait(5)


async def test_done_arriving_during_a_resync_is_delivered_after_the_replay(streaming_answer) -> None:
    user, answer_id = streaming_answer
    runner = PlayedRunner(answer_id)
    await runner.start()
    browser = Browser(user)
    await browser.connect_and_resume(answer_id)
    await runner.replay(await runner.next_request(), [])  # nothing written yet

    await runner.publish(1, "a")
    await runner.publish(3, "c")  # frame 2 was lost on the way: the consumer asks for a replay
    request = await runner.next_request()
    assert (request["type"], request["after_seq"]) == ("turn.resync", 1)
    await runner.publish_done(3)  # the answer ends before the replay lands
    await runner.replay(request, [(2, "b"), (3, "c")])

    assert await browser.received(4) == [("token", 1), ("token", 2), ("token", 3), ("done", 3)]
    await browser.close()


async def test_a_silent_answer_is_checked_and_its_stored_end_replayed(streaming_answer, monkeypatch) -> None:
    """The runner's last frames and `done` never arrive (lost, or its process died after finishing)."""
    monkeypatch.setattr(consumers, "SILENCE_CHECK_SECONDS", 0.2)
    monkeypatch.setattr(consumers, "RESYNC_TIMEOUT_SECONDS", 0.2)
    user, answer_id = streaming_answer
    runner = PlayedRunner(answer_id)
    await runner.start()
    browser = Browser(user)
    await browser.connect_and_resume(answer_id)
    await runner.replay(await runner.next_request(), [])
    await runner.publish(1, "a")
    outcome = AnswerOutcome(content="abc", frame_ends=[1, 2, 3], status="complete", finish_reason="stop")
    await sync_to_async(recorder.finish_answer)(answer_id=answer_id, outcome=outcome)

    request = await runner.next_request()  # the silence check asks the runner, which no longer answers
    assert (request["type"], request["after_seq"]) == ("turn.resync", 1)

    assert await browser.received(4) == [("token", 1), ("token", 2), ("token", 3), ("done", 3)]
    await browser.close()


def closed_while_handling(app: Any) -> Any:
    """The server side of a socket that closes while the consumer handles a frame (a server shutting
    down, say): as the ASGI spec asks, the server's send() raises an OSError from then on."""

    async def application(scope: dict, receive: Any, send: Any) -> None:
        async def send_on_closed_socket(message: dict) -> None:
            if message["type"] == "websocket.send":
                raise OSError("the socket closed")
            await send(message)

        await app(scope, receive, send_on_closed_socket)

    return application


@pytest.mark.live
async def test_a_message_stored_as_its_socket_closes_is_still_answered(embedded_model, settings) -> None:
    settings.MODEL_BASE_URL = embedded_model
    settings.MODEL_MAX_TOKENS = 48  # SmolLM2 may ramble to the 1,024-token default: a minute on a slow runner
    user = await sync_to_async(services.create_guest)()
    browser = Browser(user, closed_while_handling(consumers.ChatConsumer.as_asgi()))
    await browser.connect()
    await browser.send({"type": "message", "conversation_id": None, "text": "Say hello.", "client_id": "c1"})
    await browser.close()  # the consumer ends cleanly: no ack could be sent, and none is owed

    answer = await sync_to_async(Message.objects.get)(role=Message.Role.ASSISTANT, conversation__owner=user)
    for _ in range(600):  # up to a minute: CI shares its cores
        if answer.is_final:
            break
        await asyncio.sleep(0.1)
        await sync_to_async(answer.refresh_from_db)()
    assert (answer.status, answer.finish_reason) in {("complete", "stop"), ("complete", "length")}
    assert answer.content, "the answer was never generated"
