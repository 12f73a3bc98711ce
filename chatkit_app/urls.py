"""URLs of the ChatKit app: the protocol endpoint and the health check."""

from django.urls import path

from . import views

urlpatterns = [
    path("chatkit", views.chatkit_endpoint, name="chatkit"),
    path("health", views.health, name="health"),
]
