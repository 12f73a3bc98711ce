"""The chat pages: ``/``, ``/threads/<id>`` and the embedding demo; the
composer's tag search; the favicon at the address browsers ask for."""

from django.urls import path

from . import entities, views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("threads/<str:thread_id>", views.chat, name="chat_thread"),
    path("demo/", views.demo, name="chat_demo"),
    path("chatkit/entities", entities.entity_search, name="chatkit-entities"),
    path("favicon.ico", views.favicon, name="favicon"),
]
