"""Settings, all from the environment (twelve-factor).

The defaults are the embedded mode: SQLite, Channels' in-memory layer, Celery on the
filesystem broker and the embedded CPU model, so `make run` needs no services.
Production values are listed in docs/operations.md.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

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

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (production sits behind a TLS-terminating proxy) ------------------------
# One switch for the deployment: secure cookies, HTTPS redirect and HSTS. Off for local HTTP.
SECURE = env.bool("DJANGO_SECURE", default=False)
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
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# Reuse connections: Channels closes "old" connections around every database call, and opening
# one per call costs milliseconds on the path to the first token.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=0)
if DATABASE_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg's pool instead of one persistent connection per thread (Django requires CONN_MAX_AGE 0).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and tests read while one of them writes;
    # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # synchronous=NORMAL is durable in WAL mode except on power loss, and skips an fsync per commit.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "assistant.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- Channels -----------------------------------------------------------------------


def _redis_database(url: str) -> str:
    return urlsplit(url).path.strip("/") or "0"


CHANNEL_LAYER_URL = env.str("CHANNEL_LAYER_URL", default="memory://")
if CHANNEL_LAYER_URL == "memory://":
    # Room for a few seconds of frames if a socket stalls; the consumer resyncs on any gap.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "config.channel_layers.EmbeddedChannelLayer", "CONFIG": {"capacity": 1000}}
    }
elif CHANNEL_LAYER_URL.startswith(("redis://", "rediss://")):
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub, not channels_redis' list-based core layer: under load (benchmarks/concurrency.py,
            # 100 sockets) the core layer left 1-5 % of sockets receiving nothing at all, as every
            # socket of a process shares one blocking receive loop. Pub/sub held 250 of 250. It keeps
            # no backlog: a frame missed while a socket was away is resent from the runner or the
            # database on resync, which the consumer already does for any gap.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # redis-py 8 reads time out after 5 s by default and pools 100 connections; both
                # failed under the same load.
                "hosts": [
                    {
                        "address": CHANNEL_LAYER_URL,
                        "socket_timeout": 30,
                        "socket_connect_timeout": 5,
                        "max_connections": env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000),
                    }
                ],
                # Pub/sub channels ignore Redis database numbers: the number goes into the prefix so
                # deployments (or test runs) sharing a Redis server never hear each other.
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default=f"asgi-db{_redis_database(CHANNEL_LAYER_URL)}"),
            },
        }
    }
else:
    raise ImproperlyConfigured("CHANNEL_LAYER_URL must be memory:// or a redis:// URL.")

# --- Cache ----------------------------------------------------------------------------
# Shared by every process in production (rate limits, cached lookups); one process's memory otherwise.
CACHE_URL = env.str("CACHE_URL", default="locmem://")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CACHE_URL,
            # A cache outage degrades to misses instead of failing the request.
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured("CACHE_URL must be locmem:// or a redis:// URL.")

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# Search and Imagine hand their results back to the web process through the result backend: in
# the embedded mode the in-memory channel layer cannot reach a worker process.
_celery_results_dir = VAR_DIR / "celery-results"
_celery_results_dir.mkdir(exist_ok=True)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{_celery_results_dir}")
CELERY_TASK_DEFAULT_QUEUE = "default"
# Named queues so each kind of work scales (and takes GPUs) on its own workers.
CELERY_TASK_ROUTES = {"search.tasks.*": {"queue": "search"}, "imagine.tasks.*": {"queue": "imagine"}}
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
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": CELERY_REDELIVERY_SCAN_SECONDS,
        "unacked_restore_throttle": 1,
    }
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
if CELERY_BROKER_URL == "filesystem://":
    _celery_queue_dir = VAR_DIR / "celery"
    _celery_queue_dir.mkdir(exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_queue_dir),
        "data_folder_out": str(_celery_queue_dir),
        "control_folder": str(_celery_queue_dir / "control"),
        # The default 1 s poll adds a second to every task; 50 ms costs no measurable CPU.
        "polling_interval": 0.05,
    }

# --- Model service ------------------------------------------------------------------
MODEL_BASE_URL = env.str("MODEL_BASE_URL", default="http://127.0.0.1:8001/v1")
MODEL_NAME = env.str("MODEL_NAME", default="smollm2-135m-instruct")
MODEL_API_KEY = env.str("MODEL_API_KEY", default="")
MODEL_PROMPT_FORMAT = env.str("MODEL_PROMPT_FORMAT", default="chatml")
MODEL_TOKENIZER = env.str("MODEL_TOKENIZER", default="smollm2")
MODEL_CONTEXT_WINDOW = env.int("MODEL_CONTEXT_WINDOW", default=8192)
MODEL_MAX_TOKENS = env.int("MODEL_MAX_TOKENS", default=1024)
MODEL_TEMPERATURE = env.float("MODEL_TEMPERATURE", default=0.6)
MODEL_CONNECT_TIMEOUT = env.float("MODEL_CONNECT_TIMEOUT", default=5.0)
MODEL_READ_TIMEOUT = env.float("MODEL_READ_TIMEOUT", default=60.0)
MODEL_FIRST_TOKEN_TIMEOUT = env.float("MODEL_FIRST_TOKEN_TIMEOUT", default=60.0)
MODEL_RETRIES = env.int("MODEL_RETRIES", default=2)
# Concurrent connections (= answers streaming at once) from one process to the model server.
MODEL_MAX_CONNECTIONS = env.int("MODEL_MAX_CONNECTIONS", default=4096)
# Extra sampling fields sent with every request, as JSON (e.g. vLLM's {"top_k": 40}).
MODEL_EXTRA_BODY = env.json("MODEL_EXTRA_BODY", default={})
if not isinstance(MODEL_EXTRA_BODY, dict):
    raise ImproperlyConfigured("MODEL_EXTRA_BODY must be a JSON object.")
# Llama 3.1 Instruct was trained to call brave_search and wolfram_alpha itself; other models are not.
MODEL_BUILTIN_TOOLS = env.bool("MODEL_BUILTIN_TOOLS", default=False)
if MODEL_BUILTIN_TOOLS and MODEL_PROMPT_FORMAT != "llama3":
    raise ImproperlyConfigured("MODEL_BUILTIN_TOOLS needs MODEL_PROMPT_FORMAT=llama3 (a Llama 3.1 model).")

# --- Assistant behaviour ------------------------------------------------------------
ASSISTANT_SYSTEM_PROMPT = env.str(
    "ASSISTANT_SYSTEM_PROMPT",
    default="You are a helpful, friendly assistant. Answer clearly and concisely.",
)
ASSISTANT_MAX_MESSAGE_CHARS = env.int("ASSISTANT_MAX_MESSAGE_CHARS", default=8000)
ASSISTANT_FLUSH_INTERVAL_MS = env.int("ASSISTANT_FLUSH_INTERVAL_MS", default=250)
ASSISTANT_FRAME_INTERVAL_MS = env.int("ASSISTANT_FRAME_INTERVAL_MS", default=10)
# After the first answer a worker asks the model for a short title; off keeps the first words.
ASSISTANT_MODEL_TITLES = env.bool("ASSISTANT_MODEL_TITLES", default=True)
# On SIGTERM, running answers get this long to finish before they are saved as interrupted.
ASSISTANT_SHUTDOWN_GRACE_SECONDS = env.float("ASSISTANT_SHUTDOWN_GRACE_SECONDS", default=30.0)
# Looks up a bearer API key for core/auth.py (every HTTP surface), named by path: core imports no app.
API_KEY_AUTHENTICATOR = "assistant.chat.api_keys.authenticate"

# --- Abuse limits (core/limits.py): "LIMIT/SECONDS" per user and per client IP -----
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
    "login_per_ip": env.str("RATE_LIMIT_LOGINS_PER_IP", default="10/300"),
}
ASSISTANT_DAILY_TOKENS = env.int("ASSISTANT_DAILY_TOKENS", default=500_000)  # per user; admin can set one's own
ASSISTANT_GUEST_DAILY_TOKENS = env.int("ASSISTANT_GUEST_DAILY_TOKENS", default=50_000)
ASSISTANT_MAX_CONVERSATION_MESSAGES = env.int("ASSISTANT_MAX_CONVERSATION_MESSAGES", default=1000)

# --- Web search (search/conf.py reads the SEARCH_* settings) -------------------------------
SEARCH_TIMEOUT_SECONDS = env.float("SEARCH_TIMEOUT_SECONDS", default=8.0)  # the answer waits this long at most
SEARCH_MAX_SOURCES = env.int("SEARCH_MAX_SOURCES", default=3)
SEARCH_PROVIDER = env.str("SEARCH_PROVIDER", default="local")  # local (FTS5 index) | searxng | brave
SEARCH_SEARXNG_URL = env.str("SEARCH_SEARXNG_URL", default="")
SEARCH_BRAVE_API_KEY = env.str("SEARCH_BRAVE_API_KEY", default="")
SEARCH_WOLFRAM_APP_ID = env.str("SEARCH_WOLFRAM_APP_ID", default="")  # unset: exact sympy math
SEARCH_CACHE_SECONDS = env.int("SEARCH_CACHE_SECONDS", default=600)
# host or host:port entries exempt from the fetcher's private-address and port rules (tests, intranets).
SEARCH_FETCH_ALLOWED_HOSTS = env.list("SEARCH_FETCH_ALLOWED_HOSTS", default=[])

# --- Trust and safety (safety/conf.py reads the SAFETY_* settings) ---------------------------
# The content guard: Llama Guard 3 on vLLM when SAFETY_GUARD_BASE_URL is set (production), a Llama
# Guard 3 GGUF when SAFETY_GUARD_GGUF names one, else the embedded CPU stand-in (docs/safety.md).
SAFETY_CHECKS = env.bool("SAFETY_CHECKS", default=True)  # off only to measure other costs alone
SAFETY_GUARD_BASE_URL = env.str("SAFETY_GUARD_BASE_URL", default="")
SAFETY_GUARD_MODEL = env.str("SAFETY_GUARD_MODEL", default="llama-guard-3-1b")
SAFETY_GUARD_API_KEY = env.str("SAFETY_GUARD_API_KEY", default="")
SAFETY_GUARD_TIMEOUT = env.float("SAFETY_GUARD_TIMEOUT", default=10.0)
SAFETY_GUARD_GGUF = env.str("SAFETY_GUARD_GGUF", default="")
# Guard down or timed out: refuse (production) or let the turn through (development); logged and counted.
SAFETY_FAIL_CLOSED = env.bool("SAFETY_FAIL_CLOSED", default=False)
SAFETY_CODE_BLOCK_SEVERITY = env.str("SAFETY_CODE_BLOCK_SEVERITY", default="none")  # none | warning | error
# The embedded stand-in judges questions; judging answers too stops many harmless ones (docs/safety.md).
SAFETY_EMBEDDED_CHECKS_ANSWERS = env.bool("SAFETY_EMBEDDED_CHECKS_ANSWERS", default=False)
SAFETY_EMBEDDED_THRESHOLD = env.float("SAFETY_EMBEDDED_THRESHOLD", default=0.6)
SAFETY_CACHE_DIR = Path(env.str("SAFETY_CACHE_DIR", default=str(BASE_DIR / "var" / "cache")))
SAFETY_OUTPUT_CHECK_CHARS = env.int("SAFETY_OUTPUT_CHECK_CHARS", default=400)  # streamed text between checks
SAFETY_CODE_SHIELD = env.bool("SAFETY_CODE_SHIELD", default=True)

# --- Imagine (imagine/conf.py reads the IMAGINE_* settings; it lists the rest) ------------------
# `tiny-random` is a small randomly initialised pipeline built in code: abstract pictures, no
# download. Production: stabilityai/sd-turbo (or sdxl-turbo) by name or path, on the GPU worker.
IMAGINE_MODEL = env.str("IMAGINE_MODEL", default="tiny-random")
IMAGINE_PREVIEW_AUTOENCODER = env.str("IMAGINE_PREVIEW_AUTOENCODER", default="madebyollin/taesd")
IMAGINE_DEVICE = env.str("IMAGINE_DEVICE", default="auto")
IMAGINE_DTYPE = env.str("IMAGINE_DTYPE", default="auto")
IMAGINE_ANIMATE_MODEL = env.str("IMAGINE_ANIMATE_MODEL", default="")  # "": zoom frames through img2img
IMAGINE_FINAL_STEPS = env.int("IMAGINE_FINAL_STEPS", default=4)
IMAGINE_PROMPTS_PER_SECOND = env.int("IMAGINE_PROMPTS_PER_SECOND", default=10)
# An Imagine prompt the safety check refuses opens a moderation case; named by path: imagine imports no assistant.
IMAGINE_ON_BLOCKED_PROMPT = "assistant.chat.moderation.record_blocked_prompt"

# The address people reach this deployment at (https://chat.example.com): links sent into
# messaging apps (Imagine pictures) are built on it. Unset, /imagine in an app says it is unavailable.
ASSISTANT_PUBLIC_URL = env.str("ASSISTANT_PUBLIC_URL", default="")

# --- Messaging channels (integrations/conf.py reads these) ---------------------------
# Unset credentials leave a channel off: its webhook refuses every request (403), nothing is sent.
META_GRAPH_API_BASE_URL = env.str("META_GRAPH_API_BASE_URL", default="https://graph.facebook.com")
META_GRAPH_API_VERSION = env.str("META_GRAPH_API_VERSION", default="v26.0")
# Every Meta app's secret (WhatsApp, Messenger and Instagram may be different apps), and the old
# one while a secret is rotated: a signature made with any of them is accepted.
META_APP_SECRETS = env.list("META_APP_SECRETS", default=[])
WHATSAPP_VERIFY_TOKEN = env.str("WHATSAPP_VERIFY_TOKEN", default="")
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_SENDER_ID = env.str("WHATSAPP_SENDER_ID", default="")
MESSENGER_VERIFY_TOKEN = env.str("MESSENGER_VERIFY_TOKEN", default="")
MESSENGER_ACCESS_TOKEN = env.str("MESSENGER_ACCESS_TOKEN", default="")
MESSENGER_SENDER_ID = env.str("MESSENGER_SENDER_ID", default="")
INSTAGRAM_VERIFY_TOKEN = env.str("INSTAGRAM_VERIFY_TOKEN", default="")
INSTAGRAM_ACCESS_TOKEN = env.str("INSTAGRAM_ACCESS_TOKEN", default="")
INSTAGRAM_SENDER_ID = env.str("INSTAGRAM_SENDER_ID", default="")
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org")
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_WEBHOOK_SECRETS = env.list("TELEGRAM_WEBHOOK_SECRETS", default=[])
TELEGRAM_BOT_USERNAME = env.str("TELEGRAM_BOT_USERNAME", default="")
# Webhook deliveries answered before Django's middleware (integrations/asgi.py); off sends them
# through the middleware like every other request (say, for a middleware of your own that must see them).
INTEGRATIONS_WEBHOOK_FAST_PATH = env.bool("INTEGRATIONS_WEBHOOK_FAST_PATH", default=True)
INTEGRATIONS_SEND_TIMEOUT_SECONDS = env.float("INTEGRATIONS_SEND_TIMEOUT_SECONDS", default=10.0)
INTEGRATIONS_SEND_ATTEMPTS = env.int("INTEGRATIONS_SEND_ATTEMPTS", default=4)
INTEGRATIONS_SEND_BACKOFF_SECONDS = env.float("INTEGRATIONS_SEND_BACKOFF_SECONDS", default=1.0)
INTEGRATIONS_SEND_MAX_BACKOFF_SECONDS = env.float("INTEGRATIONS_SEND_MAX_BACKOFF_SECONDS", default=30.0)
# Events still unanswered this long after they arrived get their reply task queued again (a lost
# task), for as long as the apps let a bot reply (WhatsApp: 24 hours after the user's message).
INTEGRATIONS_REQUEUE_AFTER_SECONDS = env.int("INTEGRATIONS_REQUEUE_AFTER_SECONDS", default=600)
INTEGRATIONS_REQUEUE_WITHIN_SECONDS = env.int("INTEGRATIONS_REQUEUE_WITHIN_SECONDS", default=24 * 3600)

# --- Metrics ------------------------------------------------------------------------
# /metrics answers only with this bearer token when set (scrapers send it); open otherwise.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Static files -------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by `collectstatic` in production images
STATIC_ROOT.mkdir(exist_ok=True)
# WhiteNoise serves the app folders directly, so no collectstatic step is needed to run.
WHITENOISE_USE_FINDERS = True

# --- Stored files (Imagine renders and clips) -----------------------------------------
# Local files under var/media by default; an S3-compatible bucket in production (MinIO, R2, S3).
# Files are served only through the owner-checking views, never straight from the storage.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
MEDIA_S3_BUCKET = env.str("MEDIA_S3_BUCKET", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if MEDIA_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "endpoint_url": env.str("MEDIA_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("MEDIA_S3_REGION", default="") or None,
            "access_key": env.str("MEDIA_S3_ACCESS_KEY_ID", default=""),
            "secret_key": env.str("MEDIA_S3_SECRET_ACCESS_KEY", default=""),
            "default_acl": "private",
            "file_overwrite": False,
        },
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
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "model_service.log_context.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(turn_id)s] %(message)s"},
        "json": {"()": "model_service.log_context.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
