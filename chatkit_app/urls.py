"""
URLs of the ChatKit app: the protocol endpoint and the health check, with
the chat pages (``ui``) and attachment bytes (``attachments``) included
from their folders by dotted path, as a project includes an app's URLs.
"""

from django.urls import include, path

from . import views

urlpatterns = [
    path("", include("chatkit_app.ui.urls")),
    path("chatkit", views.chatkit_endpoint, name="chatkit"),
    path("chatkit/attachments/", include("chatkit_app.attachments.urls")),
    path("chatkit/threads/", include("chatkit_app.runs.urls")),
    path("health", views.health, name="health"),
]
