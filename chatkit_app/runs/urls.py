"""URLs of a thread's running reply, under ``/chatkit/threads/``."""

from django.urls import path

from . import views

urlpatterns = [
    path("<str:thread_id>/stop", views.stop_view, name="chatkit-thread-stop"),
    path("<str:thread_id>/stream", views.stream_view, name="chatkit-thread-stream"),
]
