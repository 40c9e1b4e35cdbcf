"""The account's language on every page, and the JavaScript catalogue in that language.

Templates are translated by Django (locale/<lang>/LC_MESSAGES/django.po); the strings the
scripts write come from the `djangojs` catalogue, served by Django's JavaScriptCatalog at
/jsi18n/<lang>/. Adding a language: docs/architecture.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import django
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import condition
from django.views.i18n import JavaScriptCatalog

from core.errors import DEPENDENCY_ERRORS

JS_DOMAIN = "djangojs"


class AccountLanguageMiddleware:
    """Activates the signed-in account's language (guests included) for the rest of the request.

    Placed after AuthenticationMiddleware; LocaleMiddleware before it has already chosen the
    browser's language, which stays when the account has none or cannot be read (a database
    outage is the view's to report, not this middleware's)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if language := account_language(request):
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


def account_language(request: HttpRequest) -> str:
    """The account's chosen language, or "" for none (anonymous, browser's, unreadable)."""
    try:
        user = request.user
        return user.language if user.is_authenticated else ""
    except DEPENDENCY_ERRORS:
        return ""


@cache
def _catalogue_etag(language: str) -> str:
    """Changes exactly when the served catalogue can: new compiled catalogues or a new Django
    (its date formats are part of it). Both come only with a deploy, which restarts the process."""
    digest = hashlib.sha256(f"{language} {django.__version__}".encode())
    for folder in settings.LOCALE_PATHS:
        for code in sorted({language, settings.LANGUAGE_CODE}):
            compiled = Path(folder) / code / "LC_MESSAGES" / f"{JS_DOMAIN}.mo"
            if compiled.exists():
                digest.update(compiled.read_bytes())
    return digest.hexdigest()[:32]


def _known_language(language: str) -> str:
    if language not in dict(settings.LANGUAGES):
        raise Http404("No such language.")
    return language


# "frontend" names the product's own catalogue (LOCALE_PATHS, always read) and keeps out every other
# installed app's, such as the admin's date-picker strings.
_catalogue_view = JavaScriptCatalog.as_view(domain=JS_DOMAIN, packages=["frontend"])


@condition(etag_func=lambda request, language: _catalogue_etag(_known_language(language)))
def javascript_catalogue(request: HttpRequest, language: str) -> HttpResponse:
    """The `djangojs` strings of one language (the English ones under any the language lacks).
    The URL names the language, so a browser never keeps one language's copy for another;
    browsers revalidate with the ETag on every page load and get 304 until the next deploy."""
    with translation.override(_known_language(language)):
        response = _catalogue_view(request)
    response["Cache-Control"] = "no-cache"
    return response
