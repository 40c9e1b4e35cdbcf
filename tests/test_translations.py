"""The catalogues in locale/: every language complete, every compiled .mo the same as its .po,
every page and the JavaScript catalogue served translated, every key the scripts use defined."""

from __future__ import annotations

import gettext
import json
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from assistant.models import User

LOCALE = Path(settings.BASE_DIR) / "locale"
SCRIPTS = Path(settings.BASE_DIR) / "frontend" / "static" / "frontend"
TRANSLATED = [code for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
# (domain, languages with a catalogue): templates are written in English, script keys are not.
CATALOGUES = [("django", TRANSLATED), ("djangojs", [settings.LANGUAGE_CODE, *TRANSLATED])]
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def read_po(path: Path) -> dict[str, tuple[str, bool]]:
    """msgid → (msgstr, fuzzy) for every live entry but the header (obsolete `#~` ones are comments)."""
    entries: dict[str, tuple[str, bool]] = {}
    entry: dict[str, str] = {}
    flags = field = ""

    def finish() -> None:
        if entry.get("msgid"):
            entries[entry["msgid"]] = (entry["msgstr"], "fuzzy" in entry["flags"])

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#,"):
            flags = line
        elif line.startswith(("msgid ", "msgstr ")):
            field, _, quoted = line.partition(" ")
            if field == "msgid":
                finish()
                entry = {"msgstr": "", "flags": flags}
                flags = ""
            entry[field] = json.loads(quoted)
        elif line.startswith('"') and field:
            entry[field] += json.loads(line)
    finish()
    return entries


def catalogue_paths() -> list[tuple[str, str]]:
    return [(domain, language) for domain, languages in CATALOGUES for language in languages]


@pytest.mark.parametrize(("domain", "language"), catalogue_paths())
def test_every_entry_is_translated_and_keeps_its_placeholders(domain: str, language: str) -> None:
    entries = read_po(LOCALE / language / "LC_MESSAGES" / f"{domain}.po")
    assert entries
    assert [msgid for msgid, (msgstr, fuzzy) in entries.items() if not msgstr or fuzzy] == []
    reference = read_po(LOCALE / "en" / "LC_MESSAGES" / "djangojs.po") if domain == "djangojs" else None
    for msgid, (msgstr, _) in entries.items():
        source = reference[msgid][0] if reference else msgid
        assert sorted(PLACEHOLDER.findall(msgstr)) == sorted(PLACEHOLDER.findall(source)), (language, msgid)


@pytest.mark.parametrize(("domain", "language"), catalogue_paths())
def test_the_compiled_catalogue_matches_its_source(domain: str, language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / f"{domain}.mo").open("rb") as compiled:
        served = {msgid: text for msgid, text in gettext.GNUTranslations(compiled)._catalog.items() if msgid}
    written = {msgid: msgstr for msgid, (msgstr, _) in read_po(folder / f"{domain}.po").items()}
    assert served == written, f"run `manage.py compilemessages` for {folder}"


def test_every_language_has_the_same_script_keys_as_english() -> None:
    english = read_po(LOCALE / "en" / "LC_MESSAGES" / "djangojs.po").keys()
    for language in TRANSLATED:
        assert read_po(LOCALE / language / "LC_MESSAGES" / "djangojs.po").keys() == english, language


def test_the_templates_strings_are_all_in_every_catalogue() -> None:
    """makemessages' source of truth: a msgid a template gained but a catalogue lacks is untranslated."""
    templates = [*Path(settings.BASE_DIR).glob("frontend/templates/**/*.html")]
    marked = set()
    for template in templates:
        marked |= set(re.findall(r'{% translate "([^"]+)" %}', template.read_text(encoding="utf-8")))
    for language in TRANSLATED:
        assert marked - read_po(LOCALE / language / "LC_MESSAGES" / "django.po").keys() == set(), language


def scripts_text() -> str:
    return "".join(path.read_text(encoding="utf-8") for path in SCRIPTS.glob("*.js"))


def test_every_key_a_script_asks_for_is_in_the_english_catalogue() -> None:
    asked = set(re.findall(r'\bt\(\s*"([\w.]+)"', scripts_text()))
    assert asked - read_po(LOCALE / "en" / "LC_MESSAGES" / "djangojs.po").keys() == set()


def test_every_script_key_is_used_by_a_script() -> None:
    text = scripts_text()
    unused = [key for key in read_po(LOCALE / "en" / "LC_MESSAGES" / "djangojs.po") if f'"{key}"' not in text]
    assert unused == []


@pytest.mark.django_db
@pytest.mark.parametrize("language", TRANSLATED)
def test_the_chat_page_and_its_script_strings_come_in_the_accounts_language(language: str) -> None:
    client = Client()
    client.get("/")
    User.objects.filter(pk=client.session["_auth_user_id"]).update(language=language)
    pages = read_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    scripts = read_po(LOCALE / language / "LC_MESSAGES" / "djangojs.po")

    page = client.get("/").content.decode()
    catalogue = client.get(f"/jsi18n/{language}/").content.decode()

    assert f'<html lang="{language}"' in page
    for msgid in ("New chat", "Keyboard shortcuts", "Send report"):
        translated = pages[msgid][0]
        assert translated != msgid
        assert translated in page
    assert json.dumps(scripts["settings_saved"][0]) in catalogue


@pytest.mark.django_db
def test_the_script_catalogue_is_revalidated_by_etag() -> None:
    client = Client()
    first = client.get("/jsi18n/de/")
    assert first.status_code == 200
    assert first["Content-Type"].startswith("text/javascript")
    assert first["Cache-Control"] == "no-cache"
    again = client.get("/jsi18n/de/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert client.get("/jsi18n/fr/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
    assert client.get("/jsi18n/xx/").status_code == 404


@pytest.mark.django_db
def test_the_script_catalogue_holds_only_the_products_strings() -> None:
    catalogue = Client().get("/jsi18n/de/").content.decode()
    assert '"settings_saved"' in catalogue
    assert "Mitternacht" not in catalogue  # the admin's date-picker catalogue ("Midnight") stays out


@pytest.mark.django_db
def test_a_key_a_language_lacks_comes_in_english(settings, tmp_path: Path) -> None:
    english_only = tmp_path / "en" / "LC_MESSAGES"
    english_only.mkdir(parents=True)
    shutil.copy(LOCALE / "en" / "LC_MESSAGES" / "djangojs.mo", english_only)
    settings.LOCALE_PATHS = [tmp_path]  # a German catalogue with no entries at all

    catalogue = Client().get("/jsi18n/de/").content.decode()

    english = read_po(LOCALE / "en" / "LC_MESSAGES" / "djangojs.po")["settings_saved"][0]
    assert f'"settings_saved": {json.dumps(english)}' in catalogue
