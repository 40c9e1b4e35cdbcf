"""Language and theme kept on the account: GET/PATCH /api/settings, and the pages the server
renders with them (AccountLanguageMiddleware, <html lang> and data-theme), guests included."""

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils import translation
from django.utils.functional import SimpleLazyObject

from assistant.models import User
from assistant.web.i18n import AccountLanguageMiddleware
from tests.assistant.test_api import call

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_limits():
    cache.clear()  # sign-ups count against the per-address limit


def guest(**headers: str) -> tuple[Client, User]:
    """A first visit to the chat page: a guest account with its own session."""
    client = Client(enforce_csrf_checks=True, **headers)
    assert client.get("/").status_code == 200
    return client, User.objects.get(pk=client.session["_auth_user_id"])


def test_a_new_account_follows_the_browser_and_the_system() -> None:
    client, _ = guest()
    settings = client.get("/api/settings").json()
    assert (settings["language"], settings["theme"], settings["search_mode"]) == ("", "system", "auto")


def test_patching_one_setting_keeps_the_others() -> None:
    client, user = guest()
    assert call(client, "patch", "/api/settings", {"search_mode": "off"}).status_code == 200

    answer = call(client, "patch", "/api/settings", {"language": "th"}).json()
    assert (answer["language"], answer["theme"], answer["search_mode"]) == ("th", "system", "off")
    answer = call(client, "patch", "/api/settings", {"theme": "dark"}).json()
    assert (answer["language"], answer["theme"], answer["search_mode"]) == ("th", "dark", "off")

    user.refresh_from_db()
    assert (user.language, user.theme, user.search_mode) == ("th", "dark", "off")
    assert call(client, "patch", "/api/settings", {"language": ""}).json()["language"] == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "xx"}, "language"),
        ({"language": "de-AT"}, "language"),
        ({"language": None}, "language"),
        ({"theme": "blue"}, "theme"),
        ({"theme": ""}, "theme"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_values_are_refused_by_name_and_nothing_changes(body: dict, field: str) -> None:
    client, user = guest()
    call(client, "patch", "/api/settings", {"language": "de", "theme": "light"})

    refused = call(client, "patch", "/api/settings", {**body, "search_mode": "off"})

    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_frame"
    assert error["detail"].startswith(f"{field}: ")
    user.refresh_from_db()
    assert (user.language, user.theme, user.search_mode) == ("de", "light", "auto")


def test_the_language_list_in_a_refusal_names_every_choice() -> None:
    client, _ = guest()
    detail = call(client, "patch", "/api/settings", {"language": "xx"}).json()["error"]["detail"]
    assert all(f"'{code}'" in detail for code in ("", "en", "de", "fr", "it", "pt", "hi", "es", "th"))


def test_the_account_language_wins_over_the_browsers() -> None:
    client, _ = guest(HTTP_ACCEPT_LANGUAGE="fr")
    assert '<html lang="fr"' in client.get("/").content.decode()

    call(client, "patch", "/api/settings", {"language": "de"})
    page = client.get("/")

    assert '<html lang="de"' in page.content.decode()
    assert "Neuer Chat" in page.content.decode()
    assert page["Content-Language"] == "de"
    assert "/jsi18n/de/" in page.content.decode()


def test_no_account_language_means_the_browsers() -> None:
    client, _ = guest(HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9")
    call(client, "patch", "/api/settings", {"language": "it"})
    call(client, "patch", "/api/settings", {"language": ""})
    assert '<html lang="es"' in client.get("/").content.decode()


def test_a_visitor_without_an_account_gets_the_browsers_language() -> None:
    page = Client(HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.8").get("/accounts/login/").content.decode()
    assert '<html lang="pt"' in page
    assert "data-theme" not in page  # no account: theme.js uses its cached copy


def test_the_theme_is_on_the_first_byte_of_every_page() -> None:
    client, _ = guest()
    assert '<html lang="en" data-theme="system"' in client.get("/").content.decode()
    call(client, "patch", "/api/settings", {"theme": "dark"})
    for path in ("/", "/accounts/login/", "/accounts/signup/"):
        assert 'data-theme="dark"' in client.get(path).content.decode(), path


def test_the_settings_dialog_shows_the_accounts_choices() -> None:
    client, _ = guest()
    call(client, "patch", "/api/settings", {"language": "hi", "theme": "light"})
    page = client.get("/").content.decode()
    hindi = translation.get_language_info("hi")["name_local"]  # each language named in itself
    assert f'<option value="hi" lang="hi" selected>{hindi}</option>' in page
    assert '<option value="light" selected>' in page


def test_a_guest_who_signs_up_keeps_language_and_theme() -> None:
    client, user = guest()
    call(client, "patch", "/api/settings", {"language": "fr", "theme": "dark"})
    form = {"username": "camille", "password1": "a long passphrase 77", "password2": "a long passphrase 77"}
    token = client.cookies["csrftoken"].value
    assert client.post("/accounts/signup/", {**form, "csrfmiddlewaretoken": token}).status_code == 302

    other_browser = Client()
    assert other_browser.login(username="camille", password=form["password1"])
    page = other_browser.get("/").content.decode()
    assert User.objects.get(username="camille").pk == user.pk
    assert '<html lang="fr" data-theme="dark"' in page
    assert "Nouvelle discussion" in page


def test_signup_form_errors_come_in_the_accounts_language() -> None:
    client, _ = guest()
    call(client, "patch", "/api/settings", {"language": "de"})
    token = client.cookies["csrftoken"].value
    form = {"username": "lena", "password1": "one passphrase 1", "password2": "another passphrase 2"}
    page = client.post("/accounts/signup/", {**form, "csrfmiddlewaretoken": token}).content.decode()
    assert "Die beiden Passwörter sind nicht identisch." in page  # Django's own German catalogue


def test_an_unreadable_account_leaves_the_browsers_language() -> None:
    """A database outage while the session's user is read: the view reports it, not the middleware."""

    def unreachable_user() -> User:
        raise OperationalError("connection refused")

    seen = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(translation.get_language())
        return HttpResponse()

    request = RequestFactory().get("/api/settings")
    request.user = SimpleLazyObject(unreachable_user)
    with translation.override("it"):  # what LocaleMiddleware chose from the browser
        assert AccountLanguageMiddleware(view)(request).status_code == 200
    assert seen == ["it"]
