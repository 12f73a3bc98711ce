"""
Thread items as a person reads them: ``describe_item`` turns a stored item
into an ``ItemView`` (a label, its text, details, tool arguments, a widget's
outline…) that the admin's transcript, the live watch page and the Markdown
export (``archive.markdown``) only lay out. It lives in the core so that
each of them can use it without importing another.

Works on the stored item JSON (``Message.data``), not on the SDK's pydantic
models, so an item the installed SDK no longer validates still shows up
(as its raw JSON) instead of breaking the page.

URLs in items are written by models and users: ``safe_url`` is the one rule
for which of them any renderer may turn into a link or an image, and
``describe_item`` applies it, so an ``ItemView`` never carries another.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# Widget node properties that hold what the user sees, in the order they are
# worth showing. Anything else (ids, styling, actions) is layout detail.
_WIDGET_TEXT_KEYS = ("title", "value", "label", "text", "placeholder", "alt", "src")


@dataclass
class ItemView:
    """What one thread item says, independent of HTML or Markdown."""

    id: str
    type: str
    label: str
    text: str = ""
    # (label, value) pairs shown under the text; values may span lines.
    details: list[tuple[str, str]] = field(default_factory=list)
    # Code-like blocks (tool arguments and output): (label, pretty JSON).
    blocks: list[tuple[str, str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    attachments: list[dict[str, str]] = field(default_factory=list)
    # Widget tree as (depth, "Type: text") lines.
    outline: list[tuple[int, str]] = field(default_factory=list)
    image_url: str = ""
    # Items the model sees but the user does not (hidden context, end of turn).
    hidden: bool = False
    # The person who wrote an assistant message in the assistant's place.
    person: str = ""
    created_at: str = ""


#: The key, in the ``data`` of an entity annotation's source, that marks an
#: assistant message as written by a person (staff answering in the
#: assistant's place, ``handoff/``); its value is their display name.
PERSON_AUTHOR_KEY = "chatkit_person"


def person_author(data: Mapping[str, Any]) -> str:
    """The display name of the person who wrote this assistant message (a
    stored item's JSON), or "" when the assistant did."""
    if data.get("type") != "assistant_message":
        return ""
    for part in data.get("content") or []:
        if name := _names_person(part):
            return name
    return ""


def _names_person(part: Mapping[str, Any]) -> str:
    """The person a content part's entity annotation names, or ""."""
    for annotation in part.get("annotations") or []:
        source = annotation.get("source") or {}
        if source.get("type") != "entity":
            continue
        name = (source.get("data") or {}).get(PERSON_AUTHOR_KEY)
        if isinstance(name, str) and name:
            return name
    return ""


# Raster images only: an SVG can carry script when opened on its own.
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp)[;,]", re.IGNORECASE)


def safe_url(url: object) -> str:
    """``url`` if a page may link to it or show it as an image, else "".

    Allowed: absolute ``http(s)://host…`` URLs, and ``data:`` URLs of PNG,
    JPEG, GIF or WebP images; the scheme (and ``data:image/``) comes back in lower case. Anything
    with whitespace or control characters is refused outright, since
    browsers drop those when they parse a URL (``java\tscript:`` is
    ``javascript:`` to them), as is every other scheme (``javascript:``,
    ``data:text/html``, ``vbscript:``, ``file:``) and scheme-relative or
    relative URLs.
    """
    if not isinstance(url, str) or not url:
        return ""
    if any(char.isspace() or ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in url):
        return ""
    if _DATA_IMAGE.match(url):
        return "data:image/" + url[len("data:image/") :]
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return parts.scheme + url[len(parts.scheme) :]


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def describe_item(data: Mapping[str, Any]) -> ItemView:
    """An ``ItemView`` for one stored item (any type, even unknown ones)."""
    kind = str(data.get("type", ""))
    view = ItemView(
        id=str(data.get("id", "")),
        type=kind,
        label=kind.replace("_", " ").capitalize() or "Item",
        created_at=str(data.get("created_at", "")),
    )
    describe = _DESCRIBERS.get(kind)
    if describe is None:
        view.blocks.append(("Item", pretty_json(dict(data))))
    else:
        describe(view, data)
    return view


def _user_message(view: ItemView, data: Mapping[str, Any]) -> None:
    view.label = "User"
    parts = []
    for part in data.get("content") or []:
        if part.get("type") == "input_tag":
            parts.append(f"@{part.get('text', '')}")
        else:
            parts.append(str(part.get("text", "")))
    view.text = "".join(parts)
    if data.get("quoted_text"):
        view.details.append(("Quoting", str(data["quoted_text"])))
    options = data.get("inference_options") or {}
    if options.get("model"):
        view.details.append(("Model", str(options["model"])))
    if (options.get("tool_choice") or {}).get("id"):
        view.details.append(("Tool", str(options["tool_choice"]["id"])))
    for attachment in data.get("attachments") or []:
        view.attachments.append(
            {
                "id": str(attachment.get("id", "")),
                "name": str(attachment.get("name", "")),
                "mime_type": str(attachment.get("mime_type", "")),
                "type": str(attachment.get("type", "")),
            }
        )


def _assistant_message(view: ItemView, data: Mapping[str, Any]) -> None:
    view.person = person_author(data)
    view.label = f"{view.person} (a person, not the assistant)" if view.person else "Assistant"
    texts = []
    for part in data.get("content") or []:
        if view.person and _names_person(part):
            continue  # the person's name line: the label says it
        texts.append(str(part.get("text", "")))
        for annotation in part.get("annotations") or []:
            source = annotation.get("source") or {}
            where = source.get("url") or source.get("filename") or source.get("id") or ""
            title = source.get("title") or where
            view.sources.append(f"{title} ({where})" if where and where != title else title)
    view.text = "\n\n".join(texts)


def _client_tool_call(view: ItemView, data: Mapping[str, Any]) -> None:
    view.label = "Tool call"
    view.text = str(data.get("name", ""))
    view.details.append(("Status", str(data.get("status", ""))))
    view.details.append(("Call id", str(data.get("call_id", ""))))
    view.blocks.append(("Arguments", pretty_json(data.get("arguments"))))
    if data.get("output") is not None:
        view.blocks.append(("Output", pretty_json(data.get("output"))))


def _widget(view: ItemView, data: Mapping[str, Any]) -> None:
    view.label = "Widget"
    view.text = str(data.get("copy_text") or "")
    view.outline = widget_outline(data.get("widget") or {})


def widget_outline(node: Any, depth: int = 0) -> list[tuple[int, str]]:
    """The visible text of a widget tree, one line per node that shows any."""
    if not isinstance(node, Mapping):
        return []
    texts = [
        str(node[key])
        for key in _WIDGET_TEXT_KEYS
        if isinstance(node.get(key), str | int | float) and str(node[key]).strip()
    ]
    kind = str(node.get("type", "Node"))
    lines = [(depth, f"{kind}: {' · '.join(texts)}" if texts else kind)]
    for child in node.get("children") or []:
        lines.extend(widget_outline(child, depth + 1))
    return lines


def _generated_image(view: ItemView, data: Mapping[str, Any]) -> None:
    view.label = "Generated image"
    url = (data.get("image") or {}).get("url")
    view.image_url = safe_url(url)
    if url and not view.image_url:
        # Said, not shown: the raw JSON has the URL for staff who need it.
        view.details.append(("Image", "not shown: its URL is not an http(s) or image link"))


def _structured_input(view: ItemView, data: Mapping[str, Any]) -> None:
    view.label = "Questions"
    view.details.append(("Status", str(data.get("status", ""))))
    for question in data.get("inputs") or []:
        answer = question.get("answer") or {}
        if answer.get("skipped"):
            reply = "(skipped)"
        elif answer.get("values"):
            reply = ", ".join(str(v) for v in answer["values"])
        else:
            reply = "(no answer)"
        view.details.append((str(question.get("question", "")), reply))


def _task_line(task: Mapping[str, Any]) -> str:
    words = [str(task[key]) for key in ("title", "content") if task.get(key)]
    if task.get("queries"):
        words.append("searched: " + ", ".join(str(q) for q in task["queries"]))
    status = task.get("status_indicator")
    line = " — ".join(words) or str(task.get("type", "task"))
    return f"{line} [{status}]" if status and status != "none" else line


def _workflow(view: ItemView, data: Mapping[str, Any]) -> None:
    workflow = data.get("workflow") or {}
    view.label = "Workflow"
    summary = workflow.get("summary") or {}
    view.text = str(summary.get("title") or "")
    if summary.get("duration") is not None:
        view.text = f"Worked for {summary['duration']}s"
    view.outline = [(0, _task_line(task)) for task in workflow.get("tasks") or []]


def _task(view: ItemView, data: Mapping[str, Any]) -> None:
    view.label = "Task"
    view.text = _task_line(data.get("task") or {})


def _hidden_context(view: ItemView, data: Mapping[str, Any]) -> None:
    view.label = "Hidden context"
    view.hidden = True
    content = data.get("content")
    view.text = content if isinstance(content, str) else pretty_json(content)


def _end_of_turn(view: ItemView, data: Mapping[str, Any]) -> None:
    view.label = "End of turn"
    view.hidden = True


_DESCRIBERS = {
    "user_message": _user_message,
    "assistant_message": _assistant_message,
    "client_tool_call": _client_tool_call,
    "widget": _widget,
    "generated_image": _generated_image,
    "structured_input": _structured_input,
    "workflow": _workflow,
    "task": _task,
    "hidden_context_item": _hidden_context,
    "sdk_hidden_context": _hidden_context,
    "end_of_turn": _end_of_turn,
}
