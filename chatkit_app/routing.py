"""Websocket routes, mounted by chatsite.asgi under channels' auth stack."""

from django.urls import path  # noqa: F401

websocket_urlpatterns: list = []
