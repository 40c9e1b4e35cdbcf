"""Settings, all from the environment (twelve-factor).

The defaults are the embedded mode: SQLite, Channels' in-memory layer, Celery on the
filesystem broker and the embedded CPU model, so `make run` needs no services.
Production values are listed in docs/operations.md.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from assistant.conf import AssistantSettings, ModelSettings
from code_interpreter.conf import CodeInterpreterSettings
from config import backends
from imagine.conf import ImagineSettings
from integrations.conf import IntegrationsSettings
from knowledge.conf import KnowledgeSettings
from media.conf import MediaSettings
from safety.conf import SafetySettings
from search.conf import SearchSettings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("ASSISTANT_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _development_secret_key() -> str:
    """A per-install random key kept under var/, so development never runs on a known key."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _development_secret_key()
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 32 characters.")

# Loopback names always: health checks inside a container or pod ask for 127.0.0.1 or localhost.
ALLOWED_HOSTS = [*env.list("DJANGO_ALLOWED_HOSTS", default=[]), "127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "config.error_pages.csrf_failure"  # JSON under /api/, Django's page elsewhere

# --- HTTPS (production sits behind a TLS-terminating proxy) ------------------------
# One switch for the deployment: secure cookies, HTTPS redirect and HSTS. Off for local HTTP.
SECURE = env.bool("DJANGO_SECURE", default=False)
if SECURE and not env.str("DJANGO_SECRET_KEY", default=""):
    # A generated key differs per container: sessions and signed links would break across replicas.
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_SECURE is on.")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=SECURE)
# Probes and scrapers talk plain HTTP to the container, never through the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Preload lists are hard to leave: the domain owner opts in, so the reminder is not an error here.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if env.bool("DJANGO_BEHIND_PROXY", default=SECURE):
    # Trust the proxy's scheme header only when a proxy is known to set it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "assistant",
    "search",
    "imagine",
    "knowledge",
    "integrations",
    "frontend",
]

MIDDLEWARE = [
    "assistant.ops.metrics.RequestMetricsMiddleware",  # outermost: times everything below it
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # the browser's language, for visitors without a choice
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "assistant.web.i18n.AccountLanguageMiddleware",  # the account's language, over the browser's
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

# Content Security Policy: scripts, styles and connections from this origin only (no inline
# script, no CDN), images also from data:/blob: (Imagine previews), nothing may frame the app.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Argon2id first: new and changed passwords use it; older hashes are upgraded at the next login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=0)
DATABASES = {
    "default": backends.database(
        env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env.int("DATABASE_CONN_MAX_AGE", default=600),
        pool_max_size=DATABASE_POOL_MAX_SIZE,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "assistant.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- Channels and cache ---------------------------------------------------------------
CHANNEL_LAYER_URL = env.str("CHANNEL_LAYER_URL", default="memory://")
CHANNEL_LAYERS = {
    "default": backends.channel_layer(
        CHANNEL_LAYER_URL,
        max_connections=env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000),
        prefix=env.str("CHANNEL_LAYER_PREFIX", default=backends.redis_prefix(CHANNEL_LAYER_URL)),
    )
}
# Shared by every process in production (rate limits, cached lookups); one process's memory otherwise.
CACHE_URL = env.str("CACHE_URL", default="locmem://")
CACHES = {"default": backends.cache(CACHE_URL)}

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# Search and Imagine hand their results back to the web process through the result backend: in
# the embedded mode the in-memory channel layer cannot reach a worker process.
_celery_results_dir = VAR_DIR / "celery-results"
_celery_results_dir.mkdir(exist_ok=True)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{_celery_results_dir}")
CELERY_TASK_DEFAULT_QUEUE = "default"
# Named queues so each kind of work scales (and takes GPUs) on its own workers.
CELERY_TASK_ROUTES = {
    "search.tasks.*": {"queue": "search"},
    "imagine.tasks.*": {"queue": "imagine"},
    "code_interpreter.tasks.*": {"queue": "code"},
    "knowledge.tasks.*": {"queue": "documents"},
    "media.tasks.*": {"queue": "media"},
}
CELERY_TASK_IGNORE_RESULT = True  # tasks whose caller waits for the result say ignore_result=False
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=3600)
# A task is acknowledged when it ends, so a worker killed mid-task leaves it to be delivered again;
# tasks are written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING, with the turn id
# Periodic work, run by `celery beat` (docker-compose's beat service; `make run` embeds it).
CELERY_BEAT_SCHEDULE = {
    "requeue-unanswered-messages": {"task": "integrations.tasks.requeue_unanswered", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Redis redelivers a task not acknowledged within this many seconds; longer than the longest task.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
# How often workers look for such tasks (kombu's default scan runs only every ~100 s).
CELERY_REDELIVERY_SCAN_SECONDS = env.int("CELERY_REDELIVERY_SCAN_SECONDS", default=60)
CELERY_BROKER_TRANSPORT_OPTIONS = backends.broker_transport_options(
    CELERY_BROKER_URL,
    queue_dir=VAR_DIR / "celery",
    visibility_timeout=CELERY_VISIBILITY_TIMEOUT,
    redelivery_scan_seconds=CELERY_REDELIVERY_SCAN_SECONDS,
)
if CELERY_BROKER_URL.startswith(backends.REDIS_SCHEMES):
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}

# --- The packages' settings ------------------------------------------------------------
# Each package's settings class (its conf.py) states every default and what the setting means; these
# lines read the environment variables of the operators' settings, with the defaults of a class built
# with nothing set (`_model`, `_search`…).

# The model server (assistant/conf.py's ModelSettings).
_model = ModelSettings()
MODEL_BASE_URL = env.str("MODEL_BASE_URL", default=_model.base_url)
MODEL_NAME = env.str("MODEL_NAME", default=_model.name)
MODEL_API_KEY = env.str("MODEL_API_KEY", default=_model.api_key)
MODEL_PROMPT_FORMAT = env.str("MODEL_PROMPT_FORMAT", default=_model.prompt_format)
MODEL_TOKENIZER = env.str("MODEL_TOKENIZER", default=_model.tokenizer)
MODEL_CONTEXT_WINDOW = env.int("MODEL_CONTEXT_WINDOW", default=_model.context_window)
MODEL_MAX_TOKENS = env.int("MODEL_MAX_TOKENS", default=_model.max_tokens)
MODEL_TEMPERATURE = env.float("MODEL_TEMPERATURE", default=_model.temperature)
MODEL_CONNECT_TIMEOUT = env.float("MODEL_CONNECT_TIMEOUT", default=_model.connect_timeout)
MODEL_READ_TIMEOUT = env.float("MODEL_READ_TIMEOUT", default=_model.read_timeout)
MODEL_FIRST_TOKEN_TIMEOUT = env.float("MODEL_FIRST_TOKEN_TIMEOUT", default=_model.first_token_timeout)
MODEL_RETRIES = env.int("MODEL_RETRIES", default=_model.retries)
MODEL_MAX_CONNECTIONS = env.int("MODEL_MAX_CONNECTIONS", default=_model.max_connections)
MODEL_MAX_CONCURRENT_STREAMS = env.int("MODEL_MAX_CONCURRENT_STREAMS", default=_model.max_concurrent_streams)
MODEL_EXTRA_BODY = env.json("MODEL_EXTRA_BODY", default=_model.extra_body)
if not isinstance(MODEL_EXTRA_BODY, dict):
    raise ImproperlyConfigured("MODEL_EXTRA_BODY must be a JSON object.")
MODEL_BUILTIN_TOOLS = env.bool("MODEL_BUILTIN_TOOLS", default=_model.builtin_tools)
MODEL_TOOL_FORMAT = env.str("MODEL_TOOL_FORMAT", default=_model.tool_format)
MODEL_GUIDED_DECODING = env.str("MODEL_GUIDED_DECODING", default=_model.guided_decoding)
MODEL_VISION_BASE_URL = env.str("MODEL_VISION_BASE_URL", default=_model.vision_base_url)
MODEL_VISION_NAME = env.str("MODEL_VISION_NAME", default=_model.vision_name)
MODEL_VISION_API_KEY = env.str("MODEL_VISION_API_KEY", default=_model.vision_api_key)
MODEL_VISION_CONTEXT_WINDOW = env.int("MODEL_VISION_CONTEXT_WINDOW", default=_model.vision_context_window)
if MODEL_BUILTIN_TOOLS and MODEL_PROMPT_FORMAT != "llama3":
    raise ImproperlyConfigured("MODEL_BUILTIN_TOOLS needs MODEL_PROMPT_FORMAT=llama3 (a Llama 3.1 model).")

# The assistant's behaviour (assistant/conf.py's AssistantSettings).
_assistant = AssistantSettings()
ASSISTANT_SYSTEM_PROMPT = env.str("ASSISTANT_SYSTEM_PROMPT", default=_assistant.system_prompt)
ASSISTANT_MAX_MESSAGE_CHARS = env.int("ASSISTANT_MAX_MESSAGE_CHARS", default=_assistant.max_message_chars)
ASSISTANT_FLUSH_INTERVAL_MS = env.int("ASSISTANT_FLUSH_INTERVAL_MS", default=_assistant.flush_interval_ms)
ASSISTANT_FRAME_INTERVAL_MS = env.int("ASSISTANT_FRAME_INTERVAL_MS", default=_assistant.frame_interval_ms)
ASSISTANT_MODEL_TITLES = env.bool("ASSISTANT_MODEL_TITLES", default=_assistant.model_titles)
ASSISTANT_MAX_CONVERSATION_MESSAGES = env.int(
    "ASSISTANT_MAX_CONVERSATION_MESSAGES", default=_assistant.max_conversation_messages
)
ASSISTANT_PUBLIC_URL = env.str("ASSISTANT_PUBLIC_URL", default=_assistant.public_url)
ASSISTANT_CONCURRENT_ANSWERS = env.str("ASSISTANT_CONCURRENT_ANSWERS", default=_assistant.concurrent_answers)
# On SIGTERM, running answers get this long to finish before they are saved as interrupted (config/lifespan.py).
ASSISTANT_SHUTDOWN_GRACE_SECONDS = env.float("ASSISTANT_SHUTDOWN_GRACE_SECONDS", default=30.0)
# Looks up a bearer API key for core/auth.py (every HTTP surface), named by path: core imports no app.
API_KEY_AUTHENTICATOR = "assistant.chat.api_keys.authenticate"

# Abuse limits, read by core/limits.py (which imports no app, so their defaults are here):
# "LIMIT/SECONDS" per user and per client IP.
ASSISTANT_RATE_LIMITS = {
    "message_per_user": env.str("RATE_LIMIT_MESSAGES_PER_USER", default="20/60"),
    "message_per_ip": env.str("RATE_LIMIT_MESSAGES_PER_IP", default="60/60"),
    "api_per_user": env.str("RATE_LIMIT_API_PER_USER", default="60/60"),
    "api_per_ip": env.str("RATE_LIMIT_API_PER_IP", default="120/60"),
    # Messaging apps: per person (the app's sender id); their webhooks come from the app's servers.
    "messaging_per_user": env.str("RATE_LIMIT_MESSAGING_PER_USER", default="20/60"),
    # Imagine previews arrive a few times a second while someone types.
    "imagine_per_user": env.str("RATE_LIMIT_IMAGINE_PER_USER", default="300/60"),
    "imagine_per_ip": env.str("RATE_LIMIT_IMAGINE_PER_IP", default="600/60"),
    # Web uploads (photos, voice messages, documents): each costs a worker a read, so a flood is refused first.
    "upload_per_user": env.str("RATE_LIMIT_UPLOADS_PER_USER", default="30/60"),
    "upload_per_ip": env.str("RATE_LIMIT_UPLOADS_PER_IP", default="60/60"),
    "login_per_ip": env.str("RATE_LIMIT_LOGINS_PER_IP", default="10/300"),
    # New guest accounts per address: a household behind one NAT starts far fewer; a script that
    # clears its cookie in a loop (each guest a fresh quota) is stopped.
    "guest_per_ip": env.str("RATE_LIMIT_GUESTS_PER_IP", default="20/3600"),
}
ASSISTANT_DAILY_TOKENS = env.int("ASSISTANT_DAILY_TOKENS", default=500_000)  # per user; admin can set one's own
ASSISTANT_GUEST_DAILY_TOKENS = env.int("ASSISTANT_GUEST_DAILY_TOKENS", default=50_000)
# All guests of one address together, per UTC day (four guests' worth): a new cookie resets nothing.
ASSISTANT_GUEST_DAILY_TOKENS_PER_IP = env.int("ASSISTANT_GUEST_DAILY_TOKENS_PER_IP", default=200_000)

# Web search (search/conf.py's SearchSettings).
_search = SearchSettings()
SEARCH_TIMEOUT_SECONDS = env.float("SEARCH_TIMEOUT_SECONDS", default=_search.timeout_seconds)
SEARCH_MAX_SOURCES = env.int("SEARCH_MAX_SOURCES", default=_search.max_sources)
SEARCH_PROVIDER = env.str("SEARCH_PROVIDER", default=_search.provider)
SEARCH_SEARXNG_URL = env.str("SEARCH_SEARXNG_URL", default=_search.searxng_url)
SEARCH_BRAVE_API_KEY = env.str("SEARCH_BRAVE_API_KEY", default=_search.brave_api_key)
SEARCH_WOLFRAM_APP_ID = env.str("SEARCH_WOLFRAM_APP_ID", default=_search.wolfram_app_id)
SEARCH_CACHE_SECONDS = env.int("SEARCH_CACHE_SECONDS", default=_search.cache_seconds)
SEARCH_FETCH_ALLOWED_HOSTS = env.list("SEARCH_FETCH_ALLOWED_HOSTS", default=_search.fetch_allowed_hosts)

# Trust and safety (safety/conf.py's SafetySettings). The content guard: Llama Guard 3 on vLLM when
# SAFETY_GUARD_BASE_URL is set (production), a Llama Guard 3 GGUF when SAFETY_GUARD_GGUF names one,
# else the embedded CPU stand-in (docs/safety.md).
_safety = SafetySettings()
SAFETY_CHECKS = env.bool("SAFETY_CHECKS", default=_safety.checks)
SAFETY_GUARD_BASE_URL = env.str("SAFETY_GUARD_BASE_URL", default=_safety.guard_base_url)
SAFETY_GUARD_MODEL = env.str("SAFETY_GUARD_MODEL", default=_safety.guard_model)
SAFETY_GUARD_API_KEY = env.str("SAFETY_GUARD_API_KEY", default=_safety.guard_api_key)
SAFETY_GUARD_TIMEOUT = env.float("SAFETY_GUARD_TIMEOUT", default=_safety.guard_timeout)
SAFETY_GUARD_MAX_CONNECTIONS = env.int("SAFETY_GUARD_MAX_CONNECTIONS", default=_safety.guard_max_connections)
# Llama Guard 3 Vision on photos (production, compose profile `vision`); empty: photos are judged by their text.
SAFETY_VISION_GUARD_BASE_URL = env.str("SAFETY_VISION_GUARD_BASE_URL", default=_safety.vision_guard_base_url)
SAFETY_VISION_GUARD_MODEL = env.str("SAFETY_VISION_GUARD_MODEL", default=_safety.vision_guard_model)
SAFETY_VISION_GUARD_API_KEY = env.str("SAFETY_VISION_GUARD_API_KEY", default=_safety.vision_guard_api_key)
SAFETY_VISION_GUARD_TIMEOUT = env.float("SAFETY_VISION_GUARD_TIMEOUT", default=_safety.vision_guard_timeout)
SAFETY_GUARD_GGUF = env.str("SAFETY_GUARD_GGUF", default=_safety.guard_gguf)
SAFETY_FAIL_CLOSED = env.bool("SAFETY_FAIL_CLOSED", default=_safety.fail_closed)
SAFETY_CODE_BLOCK_SEVERITY = env.str("SAFETY_CODE_BLOCK_SEVERITY", default=_safety.code_block_severity)
SAFETY_GUARD_JUDGES_ANSWERS = env.bool("SAFETY_GUARD_JUDGES_ANSWERS", default=_safety.guard_judges_answers)
SAFETY_EMBEDDED_CHECKS_ANSWERS = env.bool("SAFETY_EMBEDDED_CHECKS_ANSWERS", default=_safety.embedded_checks_answers)
SAFETY_EMBEDDED_THRESHOLD = env.float("SAFETY_EMBEDDED_THRESHOLD", default=_safety.embedded_threshold)
SAFETY_EMBEDDED_GUARD_PORT = env.int("SAFETY_EMBEDDED_GUARD_PORT", default=_safety.embedded_guard_port)
SAFETY_CACHE_DIR = Path(env.str("SAFETY_CACHE_DIR", default=str(_safety.cache_dir)))
SAFETY_OUTPUT_CHECK_CHARS = env.int("SAFETY_OUTPUT_CHECK_CHARS", default=_safety.output_check_chars)
SAFETY_CODE_SHIELD = env.bool("SAFETY_CODE_SHIELD", default=_safety.code_shield)

# The code interpreter's sandbox (code_interpreter/conf.py's CodeInterpreterSettings).
_code = CodeInterpreterSettings()
CODE_INTERPRETER_CPU_SECONDS = env.int("CODE_INTERPRETER_CPU_SECONDS", default=_code.cpu_seconds)
CODE_INTERPRETER_WALL_SECONDS = env.float("CODE_INTERPRETER_WALL_SECONDS", default=_code.wall_seconds)
CODE_INTERPRETER_MEMORY_MIB = env.int("CODE_INTERPRETER_MEMORY_MIB", default=_code.memory_mib)
CODE_INTERPRETER_PROCESSES = env.int("CODE_INTERPRETER_PROCESSES", default=_code.processes)
CODE_INTERPRETER_WAIT_SECONDS = env.float("CODE_INTERPRETER_WAIT_SECONDS", default=_code.wait_seconds)

# Photos and voice notes, handled on the `media` worker (media/conf.py's MediaSettings, which lists the
# rest). Unset server URLs keep the embedded engines: pocketsphinx (English only) and espeak-ng.
_media = MediaSettings()
MEDIA_PHOTO_MAX_BYTES = env.int("MEDIA_PHOTO_MAX_BYTES", default=_media.photo_max_bytes)
MEDIA_VOICE_MAX_BYTES = env.int("MEDIA_VOICE_MAX_BYTES", default=_media.voice_max_bytes)
MEDIA_PHOTO_MAX_PIXELS = env.int("MEDIA_PHOTO_MAX_PIXELS", default=_media.photo_max_pixels)
MEDIA_PHOTO_MAX_SIDE = env.int("MEDIA_PHOTO_MAX_SIDE", default=_media.photo_max_side)
MEDIA_VOICE_MAX_SECONDS = env.float("MEDIA_VOICE_MAX_SECONDS", default=_media.voice_max_seconds)
MEDIA_PROCESS_TIMEOUT = env.float("MEDIA_PROCESS_TIMEOUT", default=_media.process_timeout)
MEDIA_WAIT_SECONDS = env.float("MEDIA_WAIT_SECONDS", default=_media.wait_seconds)
MEDIA_TRANSCRIPTION_BASE_URL = env.str("MEDIA_TRANSCRIPTION_BASE_URL", default=_media.transcription_base_url)
MEDIA_TRANSCRIPTION_MODEL = env.str("MEDIA_TRANSCRIPTION_MODEL", default=_media.transcription_model)
MEDIA_TRANSCRIPTION_API_KEY = env.str("MEDIA_TRANSCRIPTION_API_KEY", default=_media.transcription_api_key)
MEDIA_TRANSCRIPTION_TIMEOUT = env.float("MEDIA_TRANSCRIPTION_TIMEOUT", default=_media.transcription_timeout)
MEDIA_TRANSCRIPTION_DETECT_LANGUAGE = env.bool(
    "MEDIA_TRANSCRIPTION_DETECT_LANGUAGE", default=_media.transcription_detect_language
)
MEDIA_SPEECH_BASE_URL = env.str("MEDIA_SPEECH_BASE_URL", default=_media.speech_base_url)
MEDIA_SPEECH_MODEL = env.str("MEDIA_SPEECH_MODEL", default=_media.speech_model)
MEDIA_SPEECH_VOICE = env.str("MEDIA_SPEECH_VOICE", default=_media.speech_voice)
MEDIA_SPEECH_API_KEY = env.str("MEDIA_SPEECH_API_KEY", default=_media.speech_api_key)
MEDIA_SPEECH_TIMEOUT = env.float("MEDIA_SPEECH_TIMEOUT", default=_media.speech_timeout)
MEDIA_VOICE_REPLY_TO_VOICE = env.bool("MEDIA_VOICE_REPLY_TO_VOICE", default=_media.voice_reply_to_voice)

# Uploaded documents, read on the `documents` worker (knowledge/conf.py's KnowledgeSettings, which lists the rest).
_knowledge = KnowledgeSettings()
KNOWLEDGE_MAX_FILE_BYTES = env.int("KNOWLEDGE_MAX_FILE_BYTES", default=_knowledge.max_file_bytes)
KNOWLEDGE_MAX_PAGES = env.int("KNOWLEDGE_MAX_PAGES", default=_knowledge.max_pages)
KNOWLEDGE_MAX_CHARACTERS = env.int("KNOWLEDGE_MAX_CHARACTERS", default=_knowledge.max_characters)
KNOWLEDGE_EXTRACTION_SECONDS = env.float("KNOWLEDGE_EXTRACTION_SECONDS", default=_knowledge.extraction_seconds)
# Memory: facts taken from each complete exchange by the served model, each checked by the content guard
# (dotted paths, so knowledge/ imports no assistant code); KNOWLEDGE_EXTRACTION_MODEL="" turns taking them off.
KNOWLEDGE_EXTRACTION_MODEL = env.str("KNOWLEDGE_EXTRACTION_MODEL", default="assistant.engine.turns.memory_model")
KNOWLEDGE_CONTENT_CHECK = env.str("KNOWLEDGE_CONTENT_CHECK", default="assistant.engine.turns.memory_allowed")

# Imagine (imagine/conf.py's ImagineSettings, which also has the settings with no environment variable).
_imagine = ImagineSettings()
IMAGINE_MODEL = env.str("IMAGINE_MODEL", default=_imagine.model)
IMAGINE_PREVIEW_AUTOENCODER = env.str("IMAGINE_PREVIEW_AUTOENCODER", default=_imagine.preview_autoencoder)
IMAGINE_DEVICE = env.str("IMAGINE_DEVICE", default=_imagine.device)
IMAGINE_DTYPE = env.str("IMAGINE_DTYPE", default=_imagine.dtype)
IMAGINE_ANIMATE_MODEL = env.str("IMAGINE_ANIMATE_MODEL", default=_imagine.animate_model)
IMAGINE_FINAL_STEPS = env.int("IMAGINE_FINAL_STEPS", default=_imagine.final_steps)
IMAGINE_PROMPTS_PER_SECOND = env.int("IMAGINE_PROMPTS_PER_SECOND", default=_imagine.prompts_per_second)
# An Imagine prompt the safety check refuses opens a moderation case; named by path: imagine imports no assistant.
IMAGINE_ON_BLOCKED_PROMPT = "assistant.chat.moderation.record_blocked_prompt"

# Messaging channels (integrations/conf.py's IntegrationsSettings). Unset credentials leave a channel
# off: its webhook refuses every request (403), nothing is sent.
_messaging = IntegrationsSettings()
META_GRAPH_API_BASE_URL = env.str("META_GRAPH_API_BASE_URL", default=_messaging.meta_graph_api_base_url)
META_GRAPH_API_VERSION = env.str("META_GRAPH_API_VERSION", default=_messaging.meta_graph_api_version)
META_APP_SECRETS = env.list("META_APP_SECRETS", default=_messaging.meta_app_secrets)
WHATSAPP_VERIFY_TOKEN = env.str("WHATSAPP_VERIFY_TOKEN", default=_messaging.whatsapp_verify_token)
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default=_messaging.whatsapp_access_token)
WHATSAPP_SENDER_ID = env.str("WHATSAPP_SENDER_ID", default=_messaging.whatsapp_sender_id)
MESSENGER_VERIFY_TOKEN = env.str("MESSENGER_VERIFY_TOKEN", default=_messaging.messenger_verify_token)
MESSENGER_ACCESS_TOKEN = env.str("MESSENGER_ACCESS_TOKEN", default=_messaging.messenger_access_token)
MESSENGER_SENDER_ID = env.str("MESSENGER_SENDER_ID", default=_messaging.messenger_sender_id)
INSTAGRAM_VERIFY_TOKEN = env.str("INSTAGRAM_VERIFY_TOKEN", default=_messaging.instagram_verify_token)
INSTAGRAM_ACCESS_TOKEN = env.str("INSTAGRAM_ACCESS_TOKEN", default=_messaging.instagram_access_token)
INSTAGRAM_SENDER_ID = env.str("INSTAGRAM_SENDER_ID", default=_messaging.instagram_sender_id)
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default=_messaging.telegram_api_base_url)
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default=_messaging.telegram_bot_token)
TELEGRAM_WEBHOOK_SECRETS = env.list("TELEGRAM_WEBHOOK_SECRETS", default=_messaging.telegram_webhook_secrets)
TELEGRAM_BOT_USERNAME = env.str("TELEGRAM_BOT_USERNAME", default=_messaging.telegram_bot_username)
# Webhook deliveries answered before Django's middleware (integrations/asgi.py, chosen by config/asgi.py); off
# sends them through the middleware like every other request (say, for a middleware of your own that must see them).
INTEGRATIONS_WEBHOOK_FAST_PATH = env.bool("INTEGRATIONS_WEBHOOK_FAST_PATH", default=True)
INTEGRATIONS_SEND_TIMEOUT_SECONDS = env.float(
    "INTEGRATIONS_SEND_TIMEOUT_SECONDS", default=_messaging.send_timeout_seconds
)
INTEGRATIONS_SEND_ATTEMPTS = env.int("INTEGRATIONS_SEND_ATTEMPTS", default=_messaging.send_attempts)
INTEGRATIONS_SEND_BACKOFF_SECONDS = env.float(
    "INTEGRATIONS_SEND_BACKOFF_SECONDS", default=_messaging.send_backoff_seconds
)
INTEGRATIONS_SEND_MAX_BACKOFF_SECONDS = env.float(
    "INTEGRATIONS_SEND_MAX_BACKOFF_SECONDS", default=_messaging.send_max_backoff_seconds
)
INTEGRATIONS_REQUEUE_AFTER_SECONDS = env.int(
    "INTEGRATIONS_REQUEUE_AFTER_SECONDS", default=_messaging.requeue_after_seconds
)
INTEGRATIONS_REQUEUE_WITHIN_SECONDS = env.int(
    "INTEGRATIONS_REQUEUE_WITHIN_SECONDS", default=_messaging.requeue_within_seconds
)

# --- Metrics ------------------------------------------------------------------------
# /metrics answers only with this bearer token (scrapers send it). Required with DJANGO_SECURE
# (`check --deploy` fails without it, and /metrics refuses); without both it is open, for development.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Static files -------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by `collectstatic` in production images
STATIC_ROOT.mkdir(exist_ok=True)
# After `collectstatic` (frontend/storage.py): hashed names, gzip/brotli copies, served by WhiteNoise
# from STATIC_ROOT with a year's immutable max-age. Before it, WhiteNoise serves the app folders
# directly under the files' own names, so no collectstatic step is needed to run.
WHITENOISE_USE_FINDERS = not (STATIC_ROOT / "staticfiles.json").exists()

# --- Stored files (Imagine renders and clips) -----------------------------------------
# Local files under var/media by default; an S3-compatible bucket in production (MinIO, R2, S3).
# Files are served only through the owner-checking views, never straight from the storage.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
MEDIA_S3_BUCKET = env.str("MEDIA_S3_BUCKET", default="")
STORAGES = {
    "default": backends.file_storage(
        MEDIA_S3_BUCKET,
        endpoint_url=env.str("MEDIA_S3_ENDPOINT_URL", default=""),
        region=env.str("MEDIA_S3_REGION", default=""),
        access_key=env.str("MEDIA_S3_ACCESS_KEY_ID", default=""),
        secret_key=env.str("MEDIA_S3_SECRET_ACCESS_KEY", default=""),
    ),
    "staticfiles": {"BACKEND": "frontend.storage.HashedCompressedStaticFiles"},
}

LANGUAGE_CODE = "en"
# The web chat's languages; their catalogues are locale/<lang>/LC_MESSAGES/django.po (templates) and
# djangojs.po (the scripts' strings), compiled to .mo files kept beside them.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("it", "Italiano"),
    ("pt", "Português"),
    ("hi", "हिन्दी"),
    ("es", "Español"),
    ("th", "ไทย"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# plain for people at a terminal; json (one object per line, with turn_id) for log collectors.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = backends.logging_config(LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
