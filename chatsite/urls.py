"""Project URLs: the admin, and everything chatkit_app serves."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("chatkit_app.urls")),
]
