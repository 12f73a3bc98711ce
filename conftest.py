"""Root pytest configuration: say which database the suite runs on."""

from __future__ import annotations

import os

# Fixtures shared by every test module: the fake model provider.
pytest_plugins = ["chatkit_app.tests.fake_provider"]


def pytest_report_header(config) -> str:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"database: {engine}; CI: {os.environ.get('CI', 'no')}"
