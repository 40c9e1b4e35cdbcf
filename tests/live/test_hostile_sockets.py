"""Probes of the WebSockets on a real server (uvicorn, embedded and production shapes) that an
outside review found open: JSON nested 600 deep, a 15 MB frame read whole, ids no row can have, an
Origin of another port or scheme of the same host, and a suspended user's sockets that kept working."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import websockets

from core.websocket import SESSION_ENDED_CLOSE_CODE, WEBSOCKET_MAX_FRAME_BYTES
from tests.support.chat_client import ChatSession, ChatSocket, ServerAddress, message_frame
from tests.support.processes import manage

pytestmark = pytest.mark.live

DEEP = "[" * 600 + "]" * 600
BEYOND_ANY_ROW = 2**70
MESSAGE_TOO_BIG = 1009  # RFC 6455: the server refuses a frame over its limit


def imagine_url(server: ServerAddress) -> str:
    return server.url.replace("http://", "ws://", 1) + "/ws/imagine"


async def imagine_socket(session: ChatSession) -> ChatSocket:
    headers = {"Origin": session.server.url, "Cookie": session.cookie_header}
    return ChatSocket(await websockets.connect(imagine_url(session.server), additional_headers=headers))


async def test_deep_json_is_refused_and_the_socket_stays_open(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        chat = await session.connect()
        await chat.send(DEEP)
        assert (await chat.recv())["code"] == "invalid_json"
        await chat.send({"type": "stop", "message_id": 1})
        assert (await chat.recv())["code"] == "not_found"

        imagine = await imagine_socket(session)
        await imagine.send(DEEP)
        assert (await imagine.recv())["code"] == "invalid_frame"


async def test_an_id_no_row_can_have_is_not_found(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        chat = await session.connect()
        await chat.send(message_frame("Hello", conversation_id=BEYOND_ANY_ROW))
        assert (await chat.recv())["code"] == "not_found"
        await chat.send({"type": "regenerate", "conversation_id": -BEYOND_ANY_ROW})
        assert (await chat.recv())["code"] == "not_found"

        imagine = await imagine_socket(session)
        await imagine.send({"type": "imagine.animate", "image_id": BEYOND_ANY_ROW})
        assert (await imagine.recv())["code"] == "not_found"


async def test_a_frame_over_the_cap_closes_the_socket_unread(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        chat = await session.connect()
        await chat.send(message_frame("x" * 7_000))  # a long valid message still fits
        assert (await chat.recv())["type"] == "ack"
        chat = await session.connect()
        await chat.send("x" * (WEBSOCKET_MAX_FRAME_BYTES + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await chat.recv(wait_seconds=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == MESSAGE_TOO_BIG


@pytest.mark.parametrize("foreign", ["other port", "other scheme"])
async def test_an_origin_of_the_same_host_on_another_port_or_scheme_is_refused(
    chat_server: ServerAddress, foreign: str
) -> None:
    port = int(chat_server.url.rsplit(":", 1)[1])
    origin = f"http://127.0.0.1:{port + 1}" if foreign == "other port" else f"https://127.0.0.1:{port}"
    async with ChatSession(chat_server) as session:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await session.connect(origin=origin)
        assert refused.value.response.status_code == 403
        assert await session.connect()  # the page's own origin still connects


def create_user(server: ServerAddress, username: str, password: str, *, staff: bool = False) -> None:
    flags = "is_staff=True, is_superuser=True" if staff else ""
    create = f"User.objects.create_user({username!r}, password={password!r}, {flags})"
    script = f"from assistant.models import User; {create}"
    manage(server.env, "shell", "-c", script)


async def sign_in(http: httpx.AsyncClient, path: str, username: str, password: str) -> None:
    form = await http.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    signed_in = await http.post(path, data={"username": username, "password": password, "csrfmiddlewaretoken": token})
    assert signed_in.status_code == 302, signed_in.text[:500]


async def suspend_through_the_admin(server: ServerAddress, staff: str, password: str, username: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as admin:
        await sign_in(admin, "/admin/login/", staff, password)
        listing = await admin.get("/admin/assistant/user/", params={"q": username})
        user_id = re.search(r'name="_selected_action" value="(\d+)"', listing.text).group(1)
        token = admin.cookies["csrftoken"]
        form = {"action": "suspend", "_selected_action": user_id, "csrfmiddlewaretoken": token, "index": "0"}
        done = await admin.post("/admin/assistant/user/", data=form, params={"q": username})
        assert done.status_code == 302, done.text[:500]


async def test_suspending_a_user_closes_their_open_sockets_at_once(chat_server: ServerAddress) -> None:
    suffix = str(abs(hash(chat_server.url)) % 10_000)
    victim, staff, password = f"victim{suffix}", f"staff{suffix}", "correct horse battery"
    create_user(chat_server, victim, password)
    create_user(chat_server, staff, password, staff=True)
    async with ChatSession(chat_server) as session:
        await sign_in(session.http, "/accounts/login/", victim, password)
        chat, imagine = await session.connect(), await imagine_socket(session)

        await suspend_through_the_admin(chat_server, staff, password, victim)

        for socket in (chat, imagine):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv(wait_seconds=5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == SESSION_ENDED_CLOSE_CODE
        reopened = await session.connect()
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(reopened.recv(), 5)
