"""
ASGI entry point: HTTP goes to Django, websockets to channels consumers.

Served in production by uvicorn (``scripts/serve``: one worker per core, see
``chatsite/serve.py``), in development by daphne (``manage.py runserver``).
The body limiter refuses oversized bodies before they are read under uvicorn;
daphne reads a whole body (to a temporary file) before the application runs.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

# Django's handler, with each request's sync thread from a pool rather than
# started and joined per request (see the module). Django must be set up
# before anything imports models (consumers do); this sets it up.
from chatkit_app.asgi_threads import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from chatkit_app.asgi_limits import RequestBodyLimit  # noqa: E402
from chatkit_app.live.origin import SameOriginValidator  # noqa: E402
from chatkit_app.live.routing import websocket_urlpatterns  # noqa: E402
from chatsite.garbage_collection import tune_for_serving  # noqa: E402

# Import every view now (the URLconf pulls in the Agents SDK, the openai
# client, pydantic models: seconds of work), not on a worker's first request,
# which would keep it and everything behind it waiting, health probes too.
get_resolver().url_patterns  # noqa: B018

application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimit(django_asgi_app),
        # Only pages of this site (or CSRF_TRUSTED_ORIGINS) may open the
        # staff sockets: see chatkit_app/live/origin.py.
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# Last: everything loaded above is frozen (see the module).
tune_for_serving(gen0_threshold=settings.GC_GEN0_THRESHOLD, freeze=settings.GC_FREEZE)
