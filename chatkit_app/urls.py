"""URLs of the ChatKit app: the protocol endpoint and the health check."""

from django.urls import path

from . import attachment_views, views

urlpatterns = [
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
