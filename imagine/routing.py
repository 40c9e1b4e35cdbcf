from django.urls import path

from imagine.consumers import ImagineConsumer

websocket_urlpatterns = [path("ws/imagine", ImagineConsumer.as_asgi())]
