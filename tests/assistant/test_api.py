import json
import socket

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings

from assistant.chat import services
from assistant.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser() -> Client:
    """A browser that opened the chat page: a guest session and a CSRF cookie."""
    client = Client(enforce_csrf_checks=True)
    assert client.get("/").status_code == 200
    return client


def call(client: Client, method: str, path: str, body: object = None, *, csrf: bool = True):
    headers = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value} if csrf else {}
    data = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    return getattr(client, method)(path, data=data, content_type="application/json", **headers)


def test_chat_page_makes_a_guest_once(browser: Client) -> None:
    first_user = browser.session["_auth_user_id"]
    browser.get("/")
    assert browser.session["_auth_user_id"] == first_user


@pytest.mark.parametrize(
    ("transcription_base_url", "english_only"),
    [("", "true"), ("http://transcription:8000/v1", "false")],  # pocketsphinx in process; Whisper
)
def test_chat_page_says_whether_its_speech_recogniser_hears_english_only(
    settings: Settings, transcription_base_url: str, english_only: str
) -> None:
    settings.MEDIA_TRANSCRIPTION_BASE_URL = transcription_base_url
    page = Client().get("/").content.decode()
    assert f'data-hears-english-only="{english_only}"' in page  # attachments.js words voice messages by it


def test_api_needs_a_session() -> None:
    response = Client().get("/api/conversations")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_conversation_crud(browser: Client) -> None:
    created = call(browser, "post", "/api/conversations", {"title": "Trip"})
    assert created.status_code == 201
    conversation_id = created.json()["id"]
    renamed = call(browser, "patch", f"/api/conversations/{conversation_id}", {"title": "  Big   trip "})
    assert renamed.json()["title"] == "Big trip"
    listed = browser.get("/api/conversations").json()["conversations"]
    assert [(c["id"], c["title"]) for c in listed] == [(conversation_id, "Big trip")]
    assert call(browser, "delete", f"/api/conversations/{conversation_id}").status_code == 204
    assert browser.get("/api/conversations").json()["conversations"] == []


def test_unsafe_methods_need_csrf_token(browser: Client) -> None:
    response = call(browser, "post", "/api/conversations", {"title": "x"}, csrf=False)
    assert response.status_code == 403
    assert browser.get("/api/conversations").json()["conversations"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "invalid_json"),
        ({"title": 5}, "invalid_frame"),
        ({"name": "x"}, "invalid_frame"),
        ({"title": "x" * 201}, "text_too_long"),
        ({"title": "   "}, "empty_text"),
    ],
)
def test_bad_rename_is_refused_and_changes_nothing(browser: Client, body: object, code: str) -> None:
    conversation_id = call(browser, "post", "/api/conversations", {"title": "Keep"}).json()["id"]
    response = call(browser, "patch", f"/api/conversations/{conversation_id}", body)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert browser.get(f"/api/conversations/{conversation_id}").json()["title"] == "Keep"


def test_other_users_conversation_is_404(browser: Client) -> None:
    stranger = services.create_guest()
    theirs = services.create_conversation(user=stranger, title="Secret")
    assert browser.get(f"/api/conversations/{theirs.pk}").status_code == 404
    for method in ("patch", "delete"):
        response = call(browser, method, f"/api/conversations/{theirs.pk}", {"title": "Mine"})
        assert response.status_code == 404
    assert browser.get(f"/api/conversations/{theirs.pk}/messages").status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "Secret"


def test_delete_while_streaming_is_a_conflict(browser: Client) -> None:
    user_id = int(browser.session["_auth_user_id"])
    start = services.start_turn(user=User.objects.get(pk=user_id), conversation_id=None, text="Hi", client_id="c")
    response = call(browser, "delete", f"/api/conversations/{start.conversation.pk}")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "turn_in_progress")
    messages = browser.get(f"/api/conversations/{start.conversation.pk}/messages").json()["messages"]
    assert [(m["role"], m["status"]) for m in messages] == [("user", "complete"), ("assistant", "streaming")]


def test_wrong_method_is_405(browser: Client) -> None:
    response = call(browser, "put", "/api/conversations")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_healthz() -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}


def test_readyz_fails_when_model_service_is_down(settings) -> None:
    settings.MODEL_BASE_URL = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    response = Client().get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["channel_layer"] == "ok"
    assert checks["model_service"].startswith("failed")


def test_readyz_stays_ready_while_the_model_is_too_busy_to_answer(settings) -> None:
    """A single-slot model server accepts the connection and answers after the answer it is
    generating: the probe must not take every web process out of the load balancer meanwhile."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as busy:  # connects, never answers
        settings.MODEL_BASE_URL = f"http://127.0.0.1:{busy.getsockname()[1]}/v1"
        response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["model_service"] == "busy"


def test_readyz_fails_when_the_redis_cache_is_down(settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens: the cache swallows the errors
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.5},
        }
    }
    checks = Client().get("/readyz").json()["checks"]
    assert checks["cache"].startswith("failed")
    assert checks["broker"] == "ok"


@pytest.mark.live
def test_readyz_passes_with_the_embedded_model(settings, embedded_model: str) -> None:
    settings.MODEL_BASE_URL = embedded_model
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()


def test_signed_in_user_sees_only_their_conversations(browser: Client) -> None:
    member = User.objects.create_user(username="ada", password="correct horse battery staple")
    services.create_conversation(user=member, title="Ada's")
    call(browser, "post", "/api/conversations", {"title": "Guest's"})
    signed_in = Client()
    response = signed_in.post("/accounts/login/", {"username": "ada", "password": "correct horse battery staple"})
    assert response.status_code == 302
    titles = [c["title"] for c in signed_in.get("/api/conversations").json()["conversations"]]
    assert titles == ["Ada's"]
    assert signed_in.get("/").status_code == 200
    assert int(signed_in.session["_auth_user_id"]) == member.pk  # the page did not replace them by a guest


def test_login_page_renders() -> None:
    assert b"Sign in" in Client().get("/accounts/login/").content


def test_metrics_are_served_in_prometheus_format() -> None:
    Client().get("/healthz")
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}
    healthz = [
        sample
        for sample in families["assistant_http_request_duration_seconds"].samples
        if sample.name.endswith("_count") and sample.labels["route"] == "/healthz"
    ]
    assert healthz
    assert healthz[0].value >= 1


def test_metrics_token_is_required_when_set(settings) -> None:
    settings.METRICS_TOKEN = "scrape-secret"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert Client().get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200
