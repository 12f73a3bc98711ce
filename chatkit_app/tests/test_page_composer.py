"""What the chat page's composer is configured with, rendered by Django:
attachment limits and the two-phase upload, the tool picker's assistants,
a panel made for one assistant, dictation's length limit, the "@" and "/"
menus; and a bad CHATKIT_UI failing ``manage.py check``. (The browser tests drive the same
configuration in Chromium.)"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client, RequestFactory, override_settings

from .test_page import panel_configs


def page_config(user, path: str = "/") -> dict:
    client = Client()
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    [config] = panel_configs(response.content.decode())
    return config


def render_panel(user, markup: str) -> str:
    request = RequestFactory().get("/somewhere/")
    request.user = user
    return Template("{% load chatkit %}" + markup).render(Context({"request": request}))


@override_settings(
    CHATKIT_UI={"attachments": True},
    CHATKIT_ATTACHMENT_MAX_COUNT=2,
    CHATKIT_ATTACHMENT_MAX_BYTES=5_000_000,
    CHATKIT_ATTACHMENT_ALLOWED_TYPES=["image/*", "text/markdown", "application/x-tar"],
)
def test_the_composer_offers_attachments_within_the_servers_limits(alice):
    options = page_config(alice)["options"]
    assert options["api"]["uploadStrategy"] == {"type": "two_phase"}
    assert options["composer"]["attachments"] == {
        "enabled": True,
        "maxCount": 2,
        "maxSize": 5_000_000,
        # showOpenFilePicker's shape; a wildcard type needs no extensions.
        "accept": {
            "image/*": [],
            "text/markdown": [".md", ".markdown"],
            "application/x-tar": [".tar"],
        },
    }


def test_without_attachments_there_is_no_upload_strategy(alice):
    options = page_config(alice)["options"]
    assert options["composer"]["attachments"] == {"enabled": False}
    assert "uploadStrategy" not in options["api"]


def test_the_tool_picker_lists_the_assistants_other_than_the_default(alice):
    config = page_config(alice)
    assert config["options"]["composer"]["tools"] == [
        {
            "id": "tasks",
            "label": "Tasks",
            "icon": "check-circle",
            "placeholderOverride": "Manage your to-do list",
        }
    ]
    # The built-in client's picker: every assistant, the default first.
    assert [a["id"] for a in config["assistants"]] == ["assistant", "tasks"]
    assert config["assistant"] == ""


@override_settings(CHATKIT_DEFAULT_ASSISTANT="tasks")
def test_with_another_default_the_picker_offers_the_plain_assistant(alice):
    config = page_config(alice)
    assert [tool["id"] for tool in config["options"]["composer"]["tools"]] == ["assistant"]
    assert [a["id"] for a in config["assistants"]] == ["tasks", "assistant"]


def test_the_tasks_page_panel_answers_with_the_tasks_assistant(alice):
    config = page_config(alice, "/tasks/")
    assert config["assistant"] == "tasks"
    assert [tool["id"] for tool in config["options"]["composer"]["tools"]] == ["assistant"]


def test_a_panel_for_the_default_assistant_needs_no_tool_choice(alice):
    html = render_panel(alice, '{% chatkit_panel assistant="assistant" %}')
    [config] = panel_configs(html)
    assert config["assistant"] == ""
    assert [tool["id"] for tool in config["options"]["composer"]["tools"]] == ["tasks"]


def test_a_panel_for_an_unknown_assistant_is_a_template_error_naming_the_known_ones(alice):
    with pytest.raises(
        TemplateSyntaxError, match="no assistant 'taks'; registered: assistant, tasks"
    ):
        render_panel(alice, '{% chatkit_panel assistant="taks" %}')


@override_settings(CHATKIT_UI={"dictation": True}, CHATKIT_TRANSCRIPTION_MAX_SECONDS=45)
def test_dictation_stops_at_the_servers_length_limit(alice):
    config = page_config(alice)
    assert config["options"]["composer"]["dictation"] == {"enabled": True}
    assert config["dictationMaxSeconds"] == 45


def test_tags_and_commands_are_off_unless_the_setting_turns_them_on(alice):
    config = page_config(alice)
    assert config["entitiesUrl"] == ""
    assert config["commands"] == []
    assert "entities" not in config["options"]
    assert "commands" not in config["options"]


@override_settings(
    CHATKIT_UI={
        "entities": True,
        "commands": [
            "Weekly review",
            {"label": "Plan", "prompt": "Plan my day", "icon": "calendar"},
        ],
    }
)
def test_one_setting_gives_both_clients_the_same_tags_and_commands(alice):
    config = page_config(alice)
    # The official component's options (its functions are added in the browser)...
    assert config["options"]["entities"] == {"showComposerMenu": True}
    assert config["options"]["commands"] == {"enabled": True}
    # ...and what both clients search and run.
    assert config["entitiesUrl"] == "/chatkit/entities"
    assert config["commands"] == [
        {
            "id": "assistant:assistant",
            "label": "Assistant",
            "description": "Ask Assistant",
            "icon": "sparkle",
            "group": "Assistants",
            "assistant": "assistant",
        },
        {
            "id": "assistant:tasks",
            "label": "Tasks",
            "description": "Manage your to-do list",
            "icon": "check-circle",
            "group": "Assistants",
            "assistant": "tasks",
        },
        {
            "id": "prompt:0",
            "label": "Weekly review",
            "icon": "write",
            "group": "Prompts",
            "prompt": "Weekly review",
        },
        {
            "id": "prompt:1",
            "label": "Plan",
            "icon": "calendar",
            "group": "Prompts",
            "prompt": "Plan my day",
            "description": "Plan my day",
        },
    ]


def test_sent_files_open_through_the_attachment_view(alice):
    url = page_config(alice)["attachmentFileUrl"]
    assert url == "/chatkit/attachments/__attachment_id__/file"


@pytest.mark.parametrize(
    ("ui", "complaint"),
    [
        ({"greting": "Hi"}, "unknown key(s) greting"),
        ({"theme": {"radius": "huge"}}, "radius'] must be one of pill"),
        ({"attachments": "yes"}, "'attachments'] must be true or false"),
    ],
)
def test_a_mistake_in_chatkit_ui_fails_the_system_check(settings, ui, complaint):
    settings.DEBUG = True  # development: no model provider needed
    settings.CHATKIT_UI = ui
    with pytest.raises(SystemCheckError) as failure:
        call_command("check")
    assert "chatkit.E008" in str(failure.value)
    assert complaint in str(failure.value)


def test_a_good_chatkit_ui_passes_the_system_check(settings):
    settings.DEBUG = True
    settings.CHATKIT_UI = {"attachments": True, "theme": {"color_scheme": "dark"}}
    call_command("check")
