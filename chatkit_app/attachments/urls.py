"""Attachment bytes over HTTP, under ``chatkit/attachments/`` (see ``views``)."""

from django.urls import path

from . import views

urlpatterns = [
    path(
        "<str:attachment_id>/upload",
        views.attachment_upload,
        name="chatkit-attachment-upload",
    ),
    path(
        "<str:attachment_id>/preview",
        views.attachment_preview,
        name="chatkit-attachment-preview",
    ),
    path(
        "<str:attachment_id>/file",
        views.attachment_file,
        name="chatkit-attachment-file",
    ),
]
