"""
Markdown for people: an exported conversation as a document, each item
described by ``transcript.describe_item`` (what the admin's transcript
shows too), with its feedback and the staff's annotations under it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..transcript import ItemView, describe_item

_MARKDOWN_URL_ESCAPES = {"(": "%28", ")": "%29", "<": "%3C", ">": "%3E", "[": "%5B", "]": "%5D"}


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
    if view.image_url.startswith(("http://", "https://")):
        # A bracket in the URL must not end the link and start another.
        target = "".join(_MARKDOWN_URL_ESCAPES.get(char, char) for char in view.image_url)
        lines += [f"![generated image]({target})", ""]
    elif view.image_url:
        lines += ["*(generated image, inline)*", ""]
    for label, text in view.blocks:
        lines += [f"**{label}:**", "", *_fence(text, "json"), ""]
    return lines


def conversation_markdown(record: Mapping[str, Any]) -> str:
    """A whole exported conversation (see ``export.conversation_export``)
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
    flag = record.get("flag")
    if flag:
        by = flag.get("flagged_by") or "staff"
        reason = f": {flag['reason']}" if flag.get("reason") else ""
        lines.append(f"- **Flagged for review:** by {by}, {flag['flagged_at']}{reason}")
        if flag.get("note"):
            lines.append(f"  - {flag['note']}")
    handoff = record.get("handoff")
    if handoff:
        lines.append(f"- **Handoff to a person:** {handoff_summary(handoff)}")
    usage = record.get("usage") or []
    if usage:
        total_in = sum(row["input_tokens"] for row in usage)
        total_out = sum(row["output_tokens"] for row in usage)
        lines.append(f"- **Tokens:** {total_in} in, {total_out} out")
    lines.append("")
    interrupted = set(record.get("interrupted") or [])
    feedback = _by_item(record.get("feedback") or [])
    annotations = _by_item(record.get("annotations") or [])
    for data in record.get("items") or []:
        view = describe_item(data)
        lines += item_markdown(view, interrupted=view.id in interrupted)
        for row in feedback.get(view.id, []):
            lines += [f"*Feedback from {row['user']}: {row['kind']}*", ""]
        for row in annotations.get(view.id, []):
            lines += annotation_markdown(row)
    return "\n".join(lines).rstrip() + "\n"


def handoff_summary(handoff: Mapping[str, Any]) -> str:
    """``asked for 2026-…: reason; taken over by dana 2026-…; handed back 2026-…``."""
    parts = []
    if handoff.get("requested_at"):
        reason = f": {handoff['request_reason']}" if handoff.get("request_reason") else ""
        parts.append(f"asked for {handoff['requested_at']}{reason}")
    if handoff.get("taken_over_at"):
        parts.append(
            f"taken over by {handoff.get('taken_over_by') or 'staff'} {handoff['taken_over_at']}"
        )
    if handoff.get("state") == "handed_back" and handoff.get("handed_back_at"):
        parts.append(f"handed back {handoff['handed_back_at']}")
    elif handoff.get("state") == "taken_over":
        parts.append("a person is answering")
    return "; ".join(parts) or str(handoff.get("state", ""))


def annotation_markdown(row: Mapping[str, Any]) -> list[str]:
    author = row.get("author") or "staff"
    lines = [f"> **Annotation by {author}: {row['label']}**"]
    if row.get("note"):
        lines += [">", *(f"> {line}" for line in str(row["note"]).splitlines())]
    if row.get("corrected_text"):
        lines += [">", "> *Should have been:*", ">"]
        lines += [f"> {line}" for line in str(row["corrected_text"]).splitlines()]
    return [*lines, ""]


def _by_item(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["item_id"], []).append(row)
    return grouped
