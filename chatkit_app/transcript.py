"""
Conversations as text: thread items as a person reads them (the admin's
transcript, the Markdown export) and the JSON-lines export format.

Works on the stored item JSON (``Message.data``), not on the SDK's pydantic
models, so an item the installed SDK no longer validates still shows up
(as its raw JSON) instead of breaking the page. ``describe_item`` is the one
place that knows what each item type means; the HTML template and
``conversation_markdown`` only lay it out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    created_at: str = ""


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
    view.label = "Assistant"
    texts = []
    for part in data.get("content") or []:
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
    view.image_url = str((data.get("image") or {}).get("url", ""))


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


# --- Markdown -------------------------------------------------------------------


def _fence(text: str, info: str = "") -> list[str]:
    # A fence longer than any backtick run inside, so content cannot close it.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return [f"{ticks}{info}", text, ticks]


def item_markdown(view: ItemView, *, interrupted: bool = False) -> list[str]:
    heading = f"### {view.label}"
    if view.type == "client_tool_call" and view.text:
        heading += f": `{view.text}`"
    if interrupted:
        heading += " (interrupted)"
    lines = [heading, ""]
    if view.created_at:
        lines += [f"*{view.created_at}* · `{view.id}`", ""]
    if view.text and view.type != "client_tool_call":
        body = view.text
        if view.hidden:
            body = "\n".join(f"> {line}" for line in body.splitlines())
        lines += [body, ""]
    for label, value in view.details:
        lines.append(f"- **{label}:** {value}")
    for attachment in view.attachments:
        lines.append(f"- **Attachment:** {attachment['name']} ({attachment['mime_type']})")
    for source in view.sources:
        lines.append(f"- **Source:** {source}")
    if view.details or view.attachments or view.sources:
        lines.append("")
    for depth, line in view.outline:
        lines.append(f"{'  ' * depth}- {line}")
    if view.outline:
        lines.append("")
    if view.image_url:
        shown = view.image_url if not view.image_url.startswith("data:") else "(inline image)"
        lines += [f"![generated image]({shown})", ""]
    for label, text in view.blocks:
        lines += [f"**{label}:**", "", *_fence(text, "json"), ""]
    return lines


def conversation_markdown(record: Mapping[str, Any]) -> str:
    """A whole exported conversation (see ``selectors.conversation_export``)
    as a Markdown document a person can read."""
    title = record.get("title") or "Untitled conversation"
    lines = [f"# {title}", ""]
    lines.append(f"- **Conversation:** `{record['id']}`")
    lines.append(f"- **Owner:** {record['owner']}")
    status = record["status"]
    if record.get("status_reason"):
        status += f" ({record['status_reason']})"
    lines.append(f"- **Status:** {status}")
    lines.append(f"- **Started:** {record['created_at']}")
    lines.append(f"- **Last activity:** {record['updated_at']}")
    usage = record.get("usage") or []
    if usage:
        total_in = sum(row["input_tokens"] for row in usage)
        total_out = sum(row["output_tokens"] for row in usage)
        lines.append(f"- **Tokens:** {total_in} in, {total_out} out")
    lines.append("")
    interrupted = set(record.get("interrupted") or [])
    feedback = _by_item(record.get("feedback") or [])
    for data in record.get("items") or []:
        view = describe_item(data)
        lines += item_markdown(view, interrupted=view.id in interrupted)
        for row in feedback.get(view.id, []):
            lines += [f"*Feedback from {row['user']}: {row['kind']}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _by_item(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["item_id"], []).append(row)
    return grouped


def record_json_line(record: Mapping[str, Any]) -> str:
    """One exported conversation as a line of JSON. Keys sorted, so the same
    data gives the same bytes whichever database it came from (PostgreSQL's
    jsonb does not keep key order)."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def format_timestamp(value: datetime) -> str:
    """Full-precision ISO 8601, so exports round-trip to the microsecond."""
    return value.isoformat()
