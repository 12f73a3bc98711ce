"""
The production settings with parts changed, to measure what each part costs.

``versus_baseline.py --env DJANGO_SETTINGS_MODULE=benchmarks.variant_settings
BENCH_VARIANT=no-servestatic,rebuilt-requests`` runs our site on
``chatsite.settings`` with the variants named in ``BENCH_VARIANT`` (comma
separated). An experiment, not a configuration for anyone to run:

- ``no-servestatic``: ServeStaticMiddleware out of MIDDLEWARE (what serving
  static files costs every other request);
- ``rebuilt-requests``: ``model_rebuild()`` on the SDK's request models at
  start. ``chatkit.types`` declares them before their params models, so they
  stay incomplete and every ``TypeAdapter(ChatKitReq)`` (one per request in
  ``ChatKitServer.process``) rebuilds their fields and schemas;
- ``async-middleware``: only the middleware this endpoint needs that needs no
  thread hop (no static files, sessions, messages or MiddlewareMixin hooks):
  shows what Django's middleware costs a bearer-token request.
"""

import os
import typing

from chatsite.settings import *  # noqa: F403
from chatsite.settings import MIDDLEWARE

VARIANTS = {v.strip() for v in os.environ.get("BENCH_VARIANT", "").split(",") if v.strip()}
KNOWN = {"no-servestatic", "rebuilt-requests", "async-middleware"}
if VARIANTS - KNOWN:
    raise ValueError(f"Unknown BENCH_VARIANT {sorted(VARIANTS - KNOWN)}; known: {sorted(KNOWN)}")

if "no-servestatic" in VARIANTS:
    MIDDLEWARE = [m for m in MIDDLEWARE if m != "servestatic.middleware.ServeStaticMiddleware"]

if "async-middleware" in VARIANTS:
    MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware"]

if "rebuilt-requests" in VARIANTS:
    from chatkit.types import ChatKitReq

    for model in typing.get_args(typing.get_args(ChatKitReq)[0]):
        model.model_rebuild()
