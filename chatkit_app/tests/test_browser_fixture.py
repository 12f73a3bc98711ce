"""The browser fixture's rule: no Chromium means the browser tests skip,
except under CI=true, where they must run and so fail."""

from __future__ import annotations

import pytest

from . import browser


@pytest.fixture
def no_chromium(monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")


def test_without_chromium_the_browser_tests_skip(no_chromium, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        browser.require_chromium()


def test_without_chromium_under_ci_the_browser_tests_fail(no_chromium, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run"):
        browser.require_chromium()


def test_with_chromium_nothing_is_skipped(monkeypatch, tmp_path):
    chromium = tmp_path / "chromium"
    chromium.write_text("")
    monkeypatch.setattr(browser, "CHROMIUM", str(chromium))
    monkeypatch.setenv("CI", "true")
    browser.require_chromium()
