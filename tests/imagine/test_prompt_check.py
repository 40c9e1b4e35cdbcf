"""Imagine's prompt check follows the chat's rules: SAFETY_CHECKS, the safety counters, the failure
policy, and a moderation case for a refused submission; and NUL is refused on every Imagine
surface. The guard is a stand-in with a fixed verdict; no imagine worker runs (nothing here renders)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from assistant.chat import api_keys
from assistant.models import ModerationCase, User
from core.errors import AssistantError, ErrorCode
from core.text import NUL_REFUSAL
from imagine import moderation
from imagine.moderation import check_prompt
from safety.verdict import Verdict
from tests.assistant.test_admin_console import staff_client
from tests.imagine.conftest import receive

REFUSED = Verdict(safe=False, categories=("S9",))


class StandInGuard:
    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.asked: list[Sequence[tuple[str, str]]] = []

    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict:
        self.asked.append(conversation)
        return self.verdict


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Callable[[Verdict], StandInGuard]:
    def answering(verdict: Verdict) -> StandInGuard:
        stand_in = StandInGuard(verdict)
        monkeypatch.setattr(moderation, "_guard", lambda: stand_in)
        return stand_in

    return answering


def counted(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def blocked_count(stage: str) -> float:
    return counted("assistant_blocked_turns_total", stage=stage, category="S9")


@pytest.fixture
def person(transactional_db) -> User:
    return User.objects.create_user("ann", password="x" * 20)


async def test_with_safety_checks_off_the_guard_is_not_asked(settings, guard) -> None:
    settings.SAFETY_CHECKS = False
    stand_in = guard(REFUSED)

    assert await check_prompt("  a   lighthouse ", submitted_by=1) == "a lighthouse"
    assert stand_in.asked == []


async def test_a_refused_submission_opens_a_moderation_case_and_is_counted(guard, person) -> None:
    guard(REFUSED)
    before = blocked_count("imagine")

    with pytest.raises(AssistantError) as refused:
        await check_prompt("a  forbidden picture", submitted_by=person.pk)

    assert refused.value.code == ErrorCode.BLOCKED
    case = await ModerationCase.objects.aget()
    assert (case.kind, case.author_id, case.message_id) == ("blocked_imagine", person.pk, None)
    assert (case.categories, case.original_text, case.state) == (["S9"], "a forbidden picture", "open")
    assert blocked_count("imagine") == before + 1


async def test_a_refused_preview_is_counted_without_a_case(guard, transactional_db) -> None:
    guard(REFUSED)
    before = blocked_count("imagine_preview")

    with pytest.raises(AssistantError):
        await check_prompt("a forbidden pictu")

    assert blocked_count("imagine_preview") == before + 1
    assert not await ModerationCase.objects.aexists()


@pytest.mark.parametrize(("fail_closed", "policy"), [(True, "closed"), (False, "open")])
async def test_an_unanswering_guard_gets_the_failure_policy(guard, transactional_db, fail_closed, policy) -> None:
    guard(Verdict(safe=not fail_closed, unavailable=True, detail="guard down"))
    before = counted("assistant_guard_unavailable_total", stage="imagine", policy=policy)

    if fail_closed:
        with pytest.raises(AssistantError) as refused:
            await check_prompt("a lighthouse", submitted_by=1)
        assert refused.value.code == ErrorCode.SAFETY_UNAVAILABLE
    else:
        assert await check_prompt("a lighthouse", submitted_by=1) == "a lighthouse"

    assert counted("assistant_guard_unavailable_total", stage="imagine", policy=policy) == before + 1
    assert not await ModerationCase.objects.aexists()


async def test_a_refused_final_render_on_the_socket_opens_a_case(guard, person, connect) -> None:
    guard(REFUSED)
    socket = await connect(person)

    await socket.send_json_to({"type": "imagine.final", "prompt": "a forbidden picture", "seq": 4})

    error = await receive(socket)
    assert (error["type"], error["code"], error["seq"]) == ("error", "blocked", 4)
    assert await ModerationCase.objects.filter(kind="blocked_imagine", author=person).aexists()


def test_a_refused_prompt_over_rest_with_an_api_key_opens_a_case(guard, person) -> None:
    guard(REFUSED)
    secret = api_keys.create_key(user=person, name="laptop").secret

    response = Client().post(
        "/api/imagine", {"prompt": "a forbidden picture"}, "application/json", HTTP_AUTHORIZATION=f"bearer {secret}"
    )

    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "blocked"
    assert ModerationCase.objects.filter(kind="blocked_imagine", author=person).exists()


def test_the_moderation_queue_shows_a_refused_imagine_prompt(transactional_db) -> None:
    author = User.objects.create_user("bo", password="x" * 20)
    case = ModerationCase.objects.create(
        kind="blocked_imagine", author=author, categories=["S9"], original_text="a forbidden picture"
    )
    client, _ = staff_client(read_content=True)

    listed = client.get("/admin/assistant/moderationcase/?kind__exact=blocked_imagine")
    opened = client.get(f"/admin/assistant/moderationcase/{case.pk}/change/")
    dashboard = client.get("/admin/dashboard/")

    assert listed.status_code == 200
    assert case.get_kind_display() in listed.content.decode()
    assert opened.status_code == 200
    assert "a forbidden picture" in opened.content.decode()
    assert dashboard.status_code == 200


async def test_a_nul_character_is_refused_on_the_socket(person, connect) -> None:
    socket = await connect(person)

    await socket.send_json_to({"type": "imagine.prompt", "prompt": "a red\x00 bicycle", "seq": 1})

    error = await receive(socket)
    assert (error["type"], error["code"], error["detail"]) == ("error", "invalid_frame", NUL_REFUSAL)


def test_a_nul_character_is_refused_over_rest(person) -> None:
    client = Client()
    client.force_login(person)

    response = client.post("/api/imagine", {"prompt": "a red\x00 bicycle"}, "application/json")

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "invalid_frame", "detail": NUL_REFUSAL}
