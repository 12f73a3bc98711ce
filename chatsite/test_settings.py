"""
Settings for the test suite: the real settings, with the environment pinned
to values that make tests independent of the developer's machine.

DATABASE_URL is still read from the environment, so the same suite runs on
SQLite (default) and on PostgreSQL (``DATABASE_URL=postgres://…``).
"""

import os

os.environ["DJANGO_READ_DOT_ENV"] = "0"
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else-0123456789")
os.environ["DEBUG"] = "0"
for _name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
    os.environ[_name] = "0"
os.environ["STATICFILES_BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
# Keys and services from the developer's shell must not turn tests into paid
# API calls or shared state. A live server started by a test passes its own.
if os.environ.get("CHATKIT_TEST_CHILD") != "1":
    for _name in [n for n in os.environ if n.startswith(("CHATKIT_", "AXES_", "CSP_"))] + [
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "REDIS_URL",
        "USE_X_FORWARDED_PROTO",
        "TRUSTED_PROXY_COUNT",
    ]:
        if not _name.startswith("CHATKIT_TEST_"):
            os.environ.pop(_name, None)

from .settings import *  # noqa: E402, F403
from .settings import BASE_DIR, DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = True

_test_db = os.environ.get("CHATKIT_TEST_DB_NAME")
if os.environ.get("CHATKIT_TEST_CHILD") == "1":
    # A live server started by a test uses the test database itself.
    DATABASES["default"]["NAME"] = os.environ["CHATKIT_TEST_CHILD_DB_NAME"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a live daphne process started by a test
    # sees the same database as the test itself.
    DATABASES["default"]["TEST"] = {"NAME": _test_db or str(BASE_DIR / ".test-db.sqlite3")}
elif _test_db:
    DATABASES["default"]["TEST"] = {"NAME": _test_db}

MEDIA_ROOT = os.environ.get("CHATKIT_TEST_MEDIA_ROOT", str(BASE_DIR / ".test-media"))
if "CHATKIT_DEV_RESPONDER_DELAY" not in os.environ:
    CHATKIT_DEV_RESPONDER_DELAY = 0.0
