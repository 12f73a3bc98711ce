"""The chat page, sign-in and sign-out, the embeddable panel and its options,
rendered by Django (the browser tests drive the same pages in Chromium)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.template import Context, Template, TemplateSyntaxError
from django.test import AsyncClient, Client, RequestFactory, override_settings

from chatkit_app.models import Conversation
from chatkit_app.ui.options import ui_settings

from .conftest import PASSWORD

CONFIG_SCRIPT = re.compile(
    r'<script id="(chatkit-[a-z]+-[0-9a-f]+-config)" type="application/json">(.*?)</script>', re.S
)


def panel_configs(html: str) -> list[dict[str, Any]]:
    """The configuration of every chat panel in a page, as the browser reads it."""
    return [json.loads(body) for _, body in CONFIG_SCRIPT.findall(html)]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- signing in and out ------------------------------------------------------


def test_it_sends_anonymous_visitors_to_the_sign_in_page(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_the_sign_in_page_is_the_projects_own_not_the_admins(db):
    response = Client().get("/accounts/login/?next=/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sign in" in html
    assert "chatkit/site.css" in html
    assert "Django administration" not in html
    assert 'name="next" value="/"' in html


def test_signing_in_lands_on_the_chat(alice):
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_is_a_clear_form_error(alice):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Please enter a correct username and password" in html
    assert 'role="alert"' in html


def test_signing_out_ends_the_session(alice):
    client = signed_in(alice)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


@override_settings(LOGOUT_REDIRECT_URL=None)
def test_the_signed_out_page_says_so_when_there_is_no_redirect(alice):
    response = signed_in(alice).post("/accounts/logout/")
    assert response.status_code == 200
    assert "You have signed out" in response.content.decode()


def test_signing_out_needs_a_post(alice):
    assert signed_in(alice).get("/accounts/logout/").status_code == 405


# --- the chat page and its options -------------------------------------------


def test_the_chat_page_configures_the_component_from_defaults(alice):
    response = signed_in(alice).get("/")
    assert response.status_code == 200
    [config] = panel_configs(response.content.decode())
    options = config["options"]
    assert options["api"] == {"url": "/chatkit", "domainKey": "domain_pk_localhost_dev"}
    assert options["theme"]["colorScheme"] == "light"
    assert options["theme"]["color"]["accent"]["primary"] == "#0f766e"
    assert options["startScreen"]["greeting"] == "What can I help with today?"
    assert options["startScreen"]["prompts"][0]["prompt"] == "What can you do?"
    assert options["composer"]["placeholder"] == "Message the assistant"
    assert options["composer"]["attachments"] == {"enabled": False}
    assert options["composer"]["dictation"] == {"enabled": False}
    assert "models" not in options["composer"]  # one model: no picker
    assert options["history"]["enabled"] is True
    assert options["threadItemActions"] == {"feedback": True, "retry": True}
    assert options["locale"] == "en-US"
    assert options["initialThread"] is None
    assert config["layout"] == "full"
    assert config["scriptUrl"] == "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js"
    assert config["fallbackTimeoutMs"] == 4000
    assert config["threadUrl"] == "/threads/__thread_id__"


def test_the_chat_page_sets_the_csrf_cookie_the_page_fetch_sends(alice):
    response = signed_in(alice).get("/")
    assert "csrftoken" in response.cookies
    [config] = panel_configs(response.content.decode())
    assert config["csrfCookieName"] == "csrftoken"
    assert config["csrfHeaderName"].lower() == "x-csrftoken"


@override_settings(
    CHATKIT_UI={
        "greeting": "Welcome to Acme support",
        "prompts": ["Track my order", {"label": "Refunds", "prompt": "How do refunds work?"}],
        "placeholder": "Ask Acme anything",
        "theme": {"color_scheme": "dark", "accent": "#ff5500", "radius": "soft"},
        "attachments": True,
        "dictation": True,
        "history": False,
        "feedback": False,
        "retry": False,
        "locale": "de-DE",
        "domain_key": "domain_pk_acme",
        "api_url": "https://api.acme.test/chatkit",
        "script_url": "",
        "fallback_timeout": 1.5,
        "disclaimer": "Answers may be wrong.",
    }
)
def test_every_ui_setting_reaches_the_options(alice):
    [config] = panel_configs(signed_in(alice).get("/").content.decode())
    options = config["options"]
    assert options["startScreen"] == {
        "greeting": "Welcome to Acme support",
        "prompts": [
            {"label": "Track my order", "prompt": "Track my order"},
            {"label": "Refunds", "prompt": "How do refunds work?"},
        ],
    }
    assert options["composer"]["placeholder"] == "Ask Acme anything"
    assert options["theme"]["colorScheme"] == "dark"
    assert options["theme"]["radius"] == "soft"
    assert options["theme"]["density"] == "normal"  # not set: the default stays
    assert options["theme"]["color"]["accent"]["primary"] == "#ff5500"
    assert options["composer"]["attachments"]["enabled"] is True  # limits: test_page_composer
    assert options["composer"]["dictation"] == {"enabled": True}
    assert options["api"] == {
        "url": "https://api.acme.test/chatkit",
        "domainKey": "domain_pk_acme",
        "uploadStrategy": {"type": "two_phase"},
    }
    assert options["history"]["enabled"] is False
    assert options["threadItemActions"] == {"feedback": False, "retry": False}
    assert options["locale"] == "de-DE"
    assert options["disclaimer"] == {"text": "Answers may be wrong."}
    assert config["scriptUrl"] == ""
    assert config["fallbackTimeoutMs"] == 1500


@override_settings(
    CHATKIT_PROVIDER="openai", CHATKIT_MODEL="gpt-a", CHATKIT_MODELS=["gpt-a", "gpt-b"]
)
def test_the_model_picker_offers_the_allowed_models(alice):
    html = signed_in(alice).get("/").content.decode()
    [config] = panel_configs(html)
    models = config["options"]["composer"]["models"]
    assert [m["id"] for m in models] == ["gpt-a", "gpt-b"]
    assert [m["default"] for m in models] == [True, False]
    # A real provider: no offline label.
    assert config["offline"] is False
    assert "Replies come from the offline development responder" not in html


@override_settings(CHATKIT_UI={"model_picker": False}, CHATKIT_MODELS=["gpt-a", "gpt-b"])
def test_the_model_picker_can_be_switched_off(alice):
    [config] = panel_configs(signed_in(alice).get("/").content.decode())
    assert "models" not in config["options"]["composer"]


def test_offline_mode_is_labelled_on_the_page(alice):
    html = signed_in(alice).get("/").content.decode()
    [config] = panel_configs(html)
    assert config["offline"] is True
    assert "Replies come from the offline development responder" in html


@override_settings(
    CHATKIT_UI={
        "greeting": "</script><script>alert('greeting')</script>",
        "prompts": ['"><img src=x onerror=alert(1)>'],
    }
)
def test_settings_cannot_break_out_of_the_page(alice):
    html = signed_in(alice).get("/").content.decode()
    assert "<script>alert('greeting')" not in html
    assert "<img src=x" not in html
    [config] = panel_configs(html)
    assert config["options"]["startScreen"]["greeting"] == (
        "</script><script>alert('greeting')</script>"
    )


@pytest.mark.parametrize(
    ("ui", "complaint"),
    [
        ({"greting": "Hi"}, "unknown key(s) greting"),
        ({"theme": {"colour": "red"}}, "unknown key(s) colour"),
        ({"theme": {"color_scheme": "purple"}}, "color_scheme'] must be one of light, dark"),
        ({"theme": {"radius": "huge"}}, "radius'] must be one of pill"),
        ({"fallback_timeout": -1}, "fallback_timeout"),
        ({"feedback": "yes"}, "'feedback'] must be true or false"),
        ({"prompts": [{"label": "no prompt"}]}, "prompts'] entry"),
        ({"entities": "on"}, "'entities'] must be true or false"),
        ({"commands": "yes"}, "'commands'] must be true, false or a list of prompts"),
        ({"commands": [{"label": "no prompt"}]}, "commands'] entry"),
        ("not a dict", "must be a dict"),
    ],
)
def test_a_mistake_in_the_ui_setting_is_named(ui, complaint):
    with (
        override_settings(CHATKIT_UI=ui),
        pytest.raises(ImproperlyConfigured, match=re.escape(complaint)),
    ):
        ui_settings()


def test_a_thread_url_opens_that_thread(alice):
    conversation = Conversation.objects.create(id="thr_alice1", owner=alice, title="Plans")
    response = signed_in(alice).get(f"/threads/{conversation.id}")
    assert response.status_code == 200
    [config] = panel_configs(response.content.decode())
    assert config["options"]["initialThread"] == "thr_alice1"
    assert "<title>Plans · Chat" in response.content.decode()


def test_someone_elses_thread_url_is_not_found(alice, bob):
    Conversation.objects.create(id="thr_alice1", owner=alice, title="Alice's secret plans")
    response = signed_in(bob).get("/threads/thr_alice1")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Alice's secret plans" not in html
    assert "Not found" in html
    assert signed_in(bob).get("/threads/thr_missing").status_code == 404


# --- the template tag and the demo page --------------------------------------


def render_tag(source: str, user) -> str:
    request = RequestFactory().get("/somewhere/else?x=1")
    request.user = user
    template = Template("{% load chatkit %}" + source)
    return template.render(Context({"request": request}))


@pytest.mark.parametrize("layout", ["full", "sidebar", "modal"])
def test_any_template_can_embed_the_chat_in_each_layout(alice, layout):
    html = render_tag(f'{{% chatkit_panel layout="{layout}" label="Help" %}}', alice)
    assert f"ck-panel--{layout}" in html
    assert "chatkit/boot.js" in html
    [config] = panel_configs(html)
    assert config["layout"] == layout
    # Only the chat page itself follows the address bar.
    assert config["threadUrl"] == ""
    if layout == "modal":
        assert "<dialog" in html
        assert ">Help</button>" in html


def test_two_panels_on_one_page_keep_their_own_configuration(alice):
    html = render_tag(
        '{% chatkit_panel layout="sidebar" %}{% chatkit_panel layout="modal" %}', alice
    )
    ids = [config_id for config_id, _ in CONFIG_SCRIPT.findall(html)]
    assert len(ids) == 2
    assert len(set(ids)) == 2


def test_an_unknown_layout_is_a_template_error(alice):
    with pytest.raises(TemplateSyntaxError, match="layout must be one of full, sidebar, modal"):
        render_tag('{% chatkit_panel layout="floating" %}', alice)


def test_anonymous_visitors_get_a_sign_in_link_instead_of_the_chat(db):
    html = render_tag('{% chatkit_panel layout="sidebar" %}', AnonymousUser())
    assert "Sign in to chat" in html
    assert "/accounts/login/?next=/somewhere/else%3Fx%3D1" in html
    assert not panel_configs(html)


@pytest.mark.parametrize("layout", ["full", "sidebar", "modal"])
def test_the_demo_page_shows_each_layout(alice, layout):
    response = signed_in(alice).get(f"/demo/?layout={layout}")
    html = response.content.decode()
    assert response.status_code == 200
    [config] = panel_configs(html)
    assert config["layout"] == layout
    assert f'{{% chatkit_panel layout="{layout}"' in html.replace("&quot;", '"').replace(
        "&#x27;", "'"
    )


def test_the_demo_page_falls_back_to_the_sidebar_for_an_unknown_layout(alice):
    [config] = panel_configs(signed_in(alice).get("/demo/?layout=<b>").content.decode())
    assert config["layout"] == "sidebar"


# --- static files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/chatkit/boot.js", "text/javascript"),
        ("/static/chatkit/client.js", "text/javascript"),
        ("/static/chatkit/chatkit.css", "text/css"),
    ],
)
async def test_servestatic_serves_the_client(db, path, content_type):
    # Through the ASGI handler, as production serves it (ServeStatic is async-only).
    response = await AsyncClient().get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert b"".join([chunk async for chunk in response.streaming_content])


def test_collectstatic_builds_the_compressed_hashed_files_production_serves(alice, tmp_path):
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages):
        call_command("collectstatic", "--noinput", verbosity=0)
        html = signed_in(alice).get("/").content.decode()
    boot = re.search(r'src="/static/(chatkit/boot\.[0-9a-f]{12}\.js)"', html)
    assert boot, "the page must load the hashed boot.js"
    assert (tmp_path / boot.group(1)).exists()
    assert (tmp_path / (boot.group(1) + ".gz")).exists()
    # boot.js imports its siblings by plain name; they must be collected too.
    for name in ("client.js", "api.js", "markdown.js", "icons.js"):
        assert (tmp_path / "chatkit" / name).exists()


def test_a_user_who_is_gone_is_sent_to_sign_in(alice):
    client = signed_in(alice)
    get_user_model().objects.filter(pk=alice.pk).delete()
    assert client.get("/").status_code == 302
