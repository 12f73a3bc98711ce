"""The chatsite project: settings, URLs, the ASGI/WSGI entry points and ``serve``."""
