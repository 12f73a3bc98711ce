"""Websocket routes, mounted by chatsite.asgi under channels' auth stack
(session cookie) and origin check."""

from django.urls import path

from .consumers import ActivityConsumer, ConversationConsumer

websocket_urlpatterns = [
    path("ws/chatkit/activity/", ActivityConsumer.as_asgi(), name="chatkit-live-activity"),
    path(
        "ws/chatkit/conversations/<str:conversation_id>/",
        ConversationConsumer.as_asgi(),
        name="chatkit-live-conversation",
    ),
]
