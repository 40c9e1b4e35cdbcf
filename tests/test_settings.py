"""Each package's typed settings: secrets stay out of their repr, so a logged settings object leaks none."""

from __future__ import annotations

from assistant.conf import model_settings
from integrations.conf import integrations_settings
from safety.conf import safety_settings
from search.conf import search_settings

SECRET = "s3cr3t-value"


def test_secrets_never_appear_in_a_settings_repr(settings) -> None:
    settings.MODEL_API_KEY = SECRET
    settings.SAFETY_GUARD_API_KEY = SECRET
    settings.SEARCH_BRAVE_API_KEY = SECRET
    settings.META_APP_SECRETS = [SECRET]
    settings.TELEGRAM_BOT_TOKEN = SECRET
    settings.TELEGRAM_WEBHOOK_SECRETS = [SECRET]
    settings.WHATSAPP_ACCESS_TOKEN = SECRET
    settings.WHATSAPP_VERIFY_TOKEN = SECRET
    loaded = [model_settings(), safety_settings(), search_settings(), integrations_settings()]

    shown = (loaded[0].api_key, loaded[1].guard_api_key, loaded[2].brave_api_key, loaded[3].telegram_bot_token)
    assert shown == (SECRET,) * 4  # read, yet not shown
    assert all(SECRET not in repr(each) for each in loaded)
