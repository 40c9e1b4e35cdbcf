"""ASGI entry point: HTTP through Django (webhook deliveries through their fast path first), WebSockets
through Channels, lifespan for graceful shutdown."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_http = get_asgi_application()  # sets up Django before the consumers import models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from assistant.web.routing import websocket_urlpatterns as chat_sockets  # noqa: E402
from config.lifespan import lifespan  # noqa: E402
from core.websocket import SameOriginOnly  # noqa: E402
from imagine.routing import websocket_urlpatterns as imagine_sockets  # noqa: E402
from integrations.asgi import WebhookFastPath  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": WebhookFastPath(django_http) if settings.INTEGRATIONS_WEBHOOK_FAST_PATH else django_http,
        "websocket": AllowedHostsOriginValidator(
            SameOriginOnly(
                AuthMiddlewareStack(URLRouter([*chat_sockets, *imagine_sockets])),
                trusted_origins=settings.CSRF_TRUSTED_ORIGINS,
            )
        ),
        "lifespan": lifespan,
    }
)
