"""
Settings for the chatsite project.

Everything that differs between machines comes from the environment (or a
``.env`` file next to ``manage.py``) through django-environ. Defaults are
chosen so that a fresh checkout runs with no configuration at all: SQLite in
the project directory, the offline development responder, an in-memory
channel layer. ``.env.example`` documents every variable; the ``CHATKIT_*``
defaults live in ``chatkit_app/conf.py``.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from chatkit_app.conf import from_environment as chatkit_from_environment

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Tests set DJANGO_READ_DOT_ENV=0 so a developer's .env (real keys, a real
# database) never leaks into the test run.
if env.bool("DJANGO_READ_DOT_ENV", default=True) and (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="django-insecure-development-only-key")
else:
    # No default: a production process without a secret must not start.
    SECRET_KEY = env("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "Set SECRET_KEY (or DEBUG=true for development); see .env.example."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # ServeStatic's runserver wraps the next one (daphne's, so development is
    # ASGI) and leaves static files to ServeStaticMiddleware, as in production.
    "servestatic",
    "daphne",
    # django.contrib.admin, with the staff dashboard on its site.
    "chatkit_app.apps.ChatSiteAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "csp",
    "axes",
    "chatkit_app",
    # The demo app: a to-do list the chat manages (tasks/assistants.py).
    "tasks",
]

# Django's security.W001-W003 look for its middlewares by dotted path and
# cannot see the async subclasses below (chatkit_app.middleware); the same
# checks, and those that depend on them (HSTS, nosniff, the SSL redirect,
# the CSRF cookie...), run with the subclasses recognised instead:
# chatkit_app.checks.check_deploy_with_async_middleware (chatkit.W071-W073).
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

MIDDLEWARE = [
    # chatkit_app.middleware: Django's own, with their hooks on the event loop
    # unless they do I/O (a session save, messages, the CSRF failure page).
    "chatkit_app.middleware.SecurityMiddleware",
    # Async-native (WhiteNoise, which it forks, is sync-only and made Django run
    # the whole chain, /chatkit included, through a thread). Every middleware
    # here must be async-capable: chatkit_app/tests/test_async_middleware.py.
    "servestatic.middleware.ServeStaticMiddleware",
    # After ServeStatic (static files need no policy), before every middleware
    # that can answer with a page of its own (CSRF failures, the lockout page).
    "chatkit_app.csp.CSPMiddleware",
    "chatkit_app.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # A URL holding text no database stores (NUL) is a 400, before any lookup.
    "chatkit_app.storable_text.UnstorableTextMiddleware",
    "chatkit_app.middleware.CommonMiddleware",
    "chatkit_app.middleware.CsrfViewMiddleware",
    "chatkit_app.middleware.AuthenticationMiddleware",
    "chatkit_app.middleware.MessageMiddleware",
    "chatkit_app.middleware.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]
# No GZipMiddleware: it buffers streaming responses and breaks server-sent
# events. Compress at the proxy, which understands text/event-stream.

ROOT_URLCONF = "chatsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "chatsite.wsgi.application"
ASGI_APPLICATION = "chatsite.asgi.application"

# --- Database ---------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
# Under ASGI every request runs its ORM calls in a worker thread; persistent
# connections would pile up per thread. PostgreSQL gets psycopg 3's pool
# instead, SQLite needs nothing.
_db["CONN_MAX_AGE"] = 0
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a cheaper check of pooled connections.
    _db["ENGINE"] = "chatsite.postgresql"
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        # While the database is down the pool retries each lost connection
        # with a doubling delay (1, 2, 4 s...); after a long outage the next
        # try could come minutes after the database is back. Giving up after
        # a couple of seconds lets the next request start a fresh attempt.
        "reconnect_timeout": env.float("DATABASE_POOL_RECONNECT_TIMEOUT", default=2.0),
    }
    # A connection is checked before a request gets it: one that died with
    # a database restart is replaced instead of failing a request with 503.
    # The backend does it (chatsite/postgresql/base.py) with a round trip
    # only when the server has said something; Django's check would be
    # psycopg_pool's, a round trip every time.
    _db["CONN_HEALTH_CHECKS"] = False
    # The statements of a turn prepared once per connection (see the
    # backend); off behind a pooler that cannot keep prepared statements.
    _db["OPTIONS"]["prepared_statements"] = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while a stream writes; IMMEDIATE transactions take
    # the write lock up front instead of failing with "database is locked"
    # half-way through an upsert.
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- The serving process ----------------------------------------------------
# Python's garbage collector once the site is loaded (chatsite/asgi.py, see
# chatsite/garbage_collection.py): what the loaded site holds is frozen, and
# the young generation is collected every GC_GEN0_THRESHOLD allocations
# (0: Python's own 700).
GC_FREEZE = env.bool("GC_FREEZE", default=True)
GC_GEN0_THRESHOLD = env.int("GC_GEN0_THRESHOLD", default=20_000)

# --- Auth -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out address or username before any password is checked
    # (see "Login throttling" below); authenticates nobody itself.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- I18n -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media -------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {
        "BACKEND": env(
            "DEFAULT_FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"
        )
    },
    "staticfiles": {
        "BACKEND": env(
            "STATICFILES_BACKEND",
            default="django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "servestatic.storage.CompressedManifestStaticFilesStorage",
        )
    },
}
# Serve straight from the app and project static folders when DEBUG is on (no
# collectstatic needed to develop); production serves the collected files.
SERVESTATIC_USE_FINDERS = DEBUG

# --- Channels ---------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 times reads out after 5 s by default, exactly as long
            # as channels_redis blocks waiting for a message (BZPOPMIN, 5 s):
            # an idle websocket's consumer then died with TimeoutError.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- CORS (separate frontends) ----------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(chatkit|health)(/.*)?$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-csrftoken",
    "x-chatkit-locale",
    "x-chatkit-disconnect",
    "x-requested-with",
)

# --- Security (production) --------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# Load balancers probe /health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health$"]
_behind_proxy = env.bool("USE_X_FORWARDED_PROTO", default=False)
if _behind_proxy:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Login throttling (django-axes) -----------------------------------------
# Both sign-in pages count failures in the database (shared by every process,
# listed in the admin, where staff unlock). A sign-in is refused once either
# its address or its username has AXES_FAILURE_LIMIT failures within the
# cool-off:
# - by username, so one account cannot be guessed at from many addresses;
# - by address, so one address cannot try password after password across
#   many accounts. Failures while locked are not counted (below), so one
#   address can lock out at most one other account per cool-off, never all.
# The price of the username lock: many addresses together can pause one
# account for the cool-off. Bearer tokens (/chatkit) and signed-in sessions
# (pages, websockets) never pass through here.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
_cooloff_minutes = env.float("AXES_COOLOFF_MINUTES", default=15.0)
# 0: locks never lift by themselves; staff unlock.
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes) if _cooloff_minutes > 0 else None
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "chatkit_app.lockout.lockout_response"
# The client's address. Directly on the internet that is the connection's
# (REMOTE_ADDR), and X-Forwarded-For is ignored: anyone can write it. Behind
# TRUSTED_PROXY_COUNT proxies that each append the address they were reached
# from (nginx's $proxy_add_x_forwarded_for, load balancers), it is the N-th
# X-Forwarded-For entry from the right; what a client writes further left
# counts for nothing. USE_X_FORWARDED_PROTO implies one proxy.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1 if _behind_proxy else 0)
if TRUSTED_PROXY_COUNT > 0:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_ORDER = "left-most"
    # ipware counts the proxies named in the header, which leaves out the
    # last one (it is REMOTE_ADDR). Not strict: a longer header (a client's
    # own proxy, or a forged entry) is normal and must not be ignored.
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT - 1
    IPWARE_STRICT = False
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

# --- Content-Security-Policy (django-csp, on HTML pages) ---------------------
# The fixed part; chatkit_app/csp.py adds what CHATKIT_UI names (the official
# component's CDN origin, a separate api_url) and ws(s):// of the page's host.
# Scripts come only from files ('self'): no 'unsafe-inline' or 'unsafe-eval';
# data reaches them in json_script blocks, which browsers do not run. A
# template that needs an inline script gives it nonce="{{ request.csp_nonce }}"
# (the nonce is sent only on pages that use it). data: and blob: images are
# generated images and attachment previews before upload.
_csp_directives: dict[str, list[str]] = {
    "default-src": [SELF],
    "script-src": [SELF, NONCE],
    "style-src": [SELF],
    "img-src": [SELF, "data:", "blob:"],
    "font-src": [SELF],
    "connect-src": [SELF],
    "frame-src": [SELF],
    "object-src": [NONE],
    "base-uri": [NONE],
    "form-action": [SELF],
    "frame-ancestors": [NONE],  # as X-Frame-Options: DENY
}
# What a deployer adds, per directive, as a JSON object, e.g. their analytics:
# CSP_EXTRA_SOURCES={"script-src": ["https://plausible.io"], "connect-src": ["https://plausible.io"]}
_csp_extra = env.json("CSP_EXTRA_SOURCES", default={})
if not isinstance(_csp_extra, dict) or not all(
    isinstance(sources, list) and all(isinstance(source, str) for source in sources)
    for sources in _csp_extra.values()
):
    raise ImproperlyConfigured(
        'CSP_EXTRA_SOURCES must be a JSON object of lists, e.g. {"img-src": ["https://cdn.example.org"]}.'
    )
for _directive, _sources in _csp_extra.items():
    _known = _csp_directives.setdefault(_directive, [])
    _known.extend(source for source in _sources if source not in _known)
if env("CSP_REPORT_URI", default=""):
    _csp_directives["report-uri"] = [env("CSP_REPORT_URI")]
# Report-only: browsers enforce nothing and report what they would block, to
# try a policy on a live site first.
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY = None
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _csp_directives}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp_directives}
    CONTENT_SECURITY_POLICY_REPORT_ONLY = None

# --- Logging ----------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # One INFO line per provider request is noise; failures are logged by us.
        "httpx2": {"level": "WARNING"},
        # `runserver` prints each request itself; the root handler would repeat it.
        "django.channels.server": {"level": "INFO", "propagate": False},
        "openai": {"level": "WARNING"},
        "chatkit": {"level": env("CHATKIT_SDK_LOG_LEVEL", default="WARNING")},
        # Failed sign-ins and lockouts are warnings; every success would be INFO.
        "axes": {"level": "WARNING"},
    },
}

# --- Model providers --------------------------------------------------------
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
GEMINI_API_KEY = env("GEMINI_API_KEY", default="")

# --- ChatKit ----------------------------------------------------------------
# Every CHATKIT_* setting and its default is listed in chatkit_app/conf.py;
# the environment overrides only what it names.
globals().update(chatkit_from_environment(dict(os.environ)))
