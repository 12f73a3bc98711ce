"""Websocket routes, mounted by chatsite.asgi under channels' auth stack
(session cookie) and origin check: the staff sockets, and the owner's own
chat (``threads``)."""

from django.urls import path

from .consumers import ActivityConsumer, ConversationConsumer
from .threads import ThreadConsumer

websocket_urlpatterns = [
    path("ws/chatkit/activity/", ActivityConsumer.as_asgi(), name="chatkit-live-activity"),
    path(
        "ws/chatkit/conversations/<str:conversation_id>/",
        ConversationConsumer.as_asgi(),
        name="chatkit-live-conversation",
    ),
    # The owner's own chat: a person's replies and who answers (threads.py).
    path(
        "ws/chatkit/threads/<str:thread_id>/", ThreadConsumer.as_asgi(), name="chatkit-live-thread"
    ),
]
