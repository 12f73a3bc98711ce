"""URLs of the ChatKit app: the protocol endpoint, the health check and the chat pages."""

from django.urls import path

from . import attachment_views, pages, views

urlpatterns = [
    path("", pages.chat, name="chat"),
    path("threads/<str:thread_id>", pages.chat, name="chat_thread"),
    path("demo/", pages.demo, name="chat_demo"),
    path("chatkit", views.chatkit_endpoint, name="chatkit"),
    path(
        "chatkit/attachments/<str:attachment_id>/upload",
        attachment_views.attachment_upload,
        name="chatkit-attachment-upload",
    ),
    path(
        "chatkit/attachments/<str:attachment_id>/preview",
        attachment_views.attachment_preview,
        name="chatkit-attachment-preview",
    ),
    path(
        "chatkit/attachments/<str:attachment_id>/file",
        attachment_views.attachment_file,
        name="chatkit-attachment-file",
    ),
    path("health", views.health, name="health"),
]
