"""
The production server: uvicorn (httptools, uvloop), one worker process per core.

``scripts/serve`` runs ``python -m chatsite.serve``; any argument is handed to
uvicorn and wins over the defaults here (``scripts/serve --port 8001``).
``manage.py runserver`` (daphne, autoreload) stays the development server.

Chosen over daphne by the figures in README ("Against the SDK's own
server"), and because uvicorn hands a request body to the application as it
arrives: the limiter in ``chatkit_app/asgi_limits.py`` can then answer 413
before an oversized body is read, where daphne first writes all of it to a
temporary file. Workers share nothing but PostgreSQL and Redis, so more than
one needs ``REDIS_URL`` (the live updates' channel layer).

Each worker listens on a socket of its own on the same port
(``SO_REUSEPORT``), and the kernel spreads new connections evenly over
them. uvicorn's own ``--workers`` share one listening socket, and the
worker that wakes first takes every connection waiting (uvloop accepts
until the queue is empty): measured, one of two workers served three turns
in four, which capped two workers at 1.3x one (README, "Against the SDK's
own server"). The supervisor (restarts, signals) stays uvicorn's. With
``--uds`` or ``--fd`` the workers share the given socket as uvicorn does.

The environment: ``WEB_CONCURRENCY`` (workers; default one per core the
process may run on), ``HOST`` (default ``127.0.0.1``: behind a proxy) and
``PORT`` (default ``8000``), and the site's own settings (``.env``).
"""

from __future__ import annotations

import os
import socket
import sys

APPLICATION = "chatsite.asgi:application"


def default_workers() -> int:
    # The cores this process may use (a container's CPU set), not the host's.
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def workers_from_environment(environ: dict[str, str]) -> int:
    raw = environ.get("WEB_CONCURRENCY", "").strip()
    if not raw:
        return default_workers()
    try:
        workers = int(raw)
    except ValueError:
        workers = 0
    if workers < 1:
        raise SystemExit(
            f"WEB_CONCURRENCY must be a whole number of workers, 1 or more; got {raw!r}."
        )
    return workers


def preflight(workers: int) -> None:
    """Refuse to start a site that would misbehave, with the reason."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django
    from django.conf import settings

    django.setup()
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if workers > 1 and layer.endswith("InMemoryChannelLayer"):
        # Each worker would have its own layer: a staff watch page would miss
        # every reply another worker streams.
        raise SystemExit(
            f"{workers} workers need a shared channel layer: set REDIS_URL (or WEB_CONCURRENCY=1)."
        )
    from django.contrib.staticfiles.storage import ManifestStaticFilesStorage, staticfiles_storage

    if isinstance(staticfiles_storage, ManifestStaticFilesStorage):
        manifest = os.path.join(str(settings.STATIC_ROOT), staticfiles_storage.manifest_name)
        if not os.path.exists(manifest):
            raise SystemExit(
                f"No {manifest}: run `manage.py collectstatic --noinput` first "
                "(every page links the collected, hashed files)."
            )


def uvicorn_arguments(environ: dict[str, str], workers: int, extra: list[str]) -> list[str]:
    return [
        APPLICATION,
        *("--host", environ.get("HOST", "127.0.0.1")),
        *("--port", environ.get("PORT", "8000")),
        *("--workers", str(workers)),
        *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"),
        # Django's ASGI handler speaks no lifespan protocol.
        *("--lifespan", "off"),
        # The site reads X-Forwarded-Proto (USE_X_FORWARDED_PROTO) and
        # X-Forwarded-For (TRUSTED_PROXY_COUNT) itself; uvicorn rewriting the
        # client's address as well would count the proxy twice.
        "--no-proxy-headers",
        "--no-server-header",
        # A proxy's idle keep-alive connections outlive uvicorn's default 5 s.
        *("--timeout-keep-alive", "30"),
        # Last, so that they win over the defaults above.
        *extra,
    ]


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other sockets of this user
    may bind too (``SO_REUSEPORT``): the kernel balances connections over
    those that listen."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _balance_workers() -> None:
    """Make uvicorn's multiprocess supervisor give each worker a listening
    socket of its own (see the module's docstring). The supervisor's socket
    is bound (it reserves the port, and says when it is taken) but never
    listens, so it is never handed a connection."""
    import logging

    from uvicorn import config as uvicorn_config
    from uvicorn.supervisors import multiprocess

    original = uvicorn_config.Config.bind_socket

    def bind_socket(self: uvicorn_config.Config) -> socket.socket:
        if self.uds or self.fd is not None:
            return original(self)
        try:
            sock = reuse_port_socket(self.host, self.port)
        except OSError as exc:
            logging.getLogger("uvicorn.error").error(exc)
            sys.exit(uvicorn_config.STARTUP_FAILURE)
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on http://%s:%d, a socket per worker (SO_REUSEPORT)",
            self.host,
            sock.getsockname()[1],
        )
        sock.set_inheritable(True)
        return sock

    uvicorn_config.Config.bind_socket = bind_socket  # type: ignore[method-assign]
    multiprocess.Process = BalancedWorker  # type: ignore[misc]


def _twin(sock: socket.socket) -> socket.socket:
    """A socket of the worker's own on the supervisor's address, if that
    one allows it (``SO_REUSEPORT``); else the shared socket itself."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_REUSEPORT
    ):
        return sock
    host, port = sock.getsockname()[:2]
    return reuse_port_socket(host, port)


try:
    from uvicorn.supervisors.multiprocess import Process as _UvicornWorker
except ImportError:  # pragma: no cover - uvicorn is a dependency
    _UvicornWorker = object  # type: ignore[assignment,misc]


class BalancedWorker(_UvicornWorker):  # type: ignore[misc,valid-type]
    """uvicorn's worker process, listening on a socket of its own. Defined
    here so that the spawned child, unpickling its target, imports it."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:
        super().target([_twin(sock) for sock in sockets or []])


def main(argv: list[str] | None = None) -> None:
    extra = list(sys.argv[1:] if argv is None else argv)
    environ = dict(os.environ)
    workers = workers_from_environment(environ)
    if "--workers" in extra:
        workers = int(extra[extra.index("--workers") + 1])
    preflight(workers)
    from uvicorn.main import main as uvicorn_main

    if workers > 1 and hasattr(socket, "SO_REUSEPORT"):
        _balance_workers()

    uvicorn_main(uvicorn_arguments(environ, workers, extra))


if __name__ == "__main__":
    main()
