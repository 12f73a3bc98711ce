"""The reply runs' settings: a mistyped disconnect mode or a negative limit
is a system check error at start-up, and a request's header picks the
disconnect mode only among the two there are."""

from __future__ import annotations

from django.test import RequestFactory

from chatkit_app.context import RequestContext
from chatkit_app.runs.checks import check_runs
from chatkit_app.runs.owner import disconnect_mode


def ids(settings) -> list[str]:
    return [problem.id for problem in check_runs(None)]


def test_the_defaults_pass_the_checks(settings):
    assert ids(settings) == []


def test_a_mistyped_disconnect_mode_is_an_error(settings):
    settings.CHATKIT_DISCONNECT = "contnue"
    assert ids(settings) == ["chatkit.E060"]


def test_negative_limits_and_a_heartbeat_that_never_beats_are_errors(settings):
    settings.CHATKIT_MAX_BACKGROUND_RUNS = -1
    settings.CHATKIT_RUN_HEARTBEAT_SECONDS = 0
    assert ids(settings) == ["chatkit.E061", "chatkit.E062"]


def test_the_header_chooses_the_disconnect_mode_else_the_setting(settings):
    settings.CHATKIT_DISCONNECT = "cancel"

    def mode(**headers: str) -> str:
        request = RequestFactory().post("/chatkit", headers=headers)
        return disconnect_mode(RequestContext(user=None, request=request))  # type: ignore[arg-type]

    assert mode() == "cancel"
    assert mode(X_ChatKit_Disconnect="continue") == "continue"
    assert mode(X_ChatKit_Disconnect="whatever") == "cancel"
    settings.CHATKIT_DISCONNECT = "continue"
    assert mode() == "continue"
    assert mode(X_ChatKit_Disconnect="cancel") == "cancel"
