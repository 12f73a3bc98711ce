"""
One fully populated instance of every thread item type the SDK defines.

Used to prove the store is lossless: each item carries the optional parts
that a text-only store would drop (widgets, annotations, attachments,
inference options, tool arguments and output, workflow tasks...).
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import get_args

from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomSummary,
    CustomTask,
    EndOfTurnItem,
    EntitySource,
    FileAttachment,
    FileSource,
    GeneratedImage,
    GeneratedImageItem,
    HiddenContextItem,
    ImageAttachment,
    InferenceOptions,
    SDKHiddenContextItem,
    SearchTask,
    StructuredInputAnswer,
    StructuredInputFreeform,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    TaskItem,
    ThoughtTask,
    ThreadItem,
    ToolChoice,
    URLSource,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from chatkit.actions import ActionConfig
    from chatkit.widgets import Button, Card, Markdown, Row, Text


def thread_item_types() -> set[str]:
    """The ``type`` of every member of the SDK's ThreadItem union."""
    union = get_args(ThreadItem)[0]
    return {member.model_fields["type"].default for member in get_args(union)}


def every_thread_item(thread_id: str, prefix: str = "it") -> list[ThreadItem]:
    now = datetime(2026, 11, 25, 9, 30, 15, 123456)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        widget = Card(
            id="card-1",
            children=[
                Text(id="t1", value="Buy groceries", streaming=False),
                Markdown(value="**due** tomorrow"),
                Row(
                    children=[
                        Button(
                            label="Done",
                            onClickAction=ActionConfig(type="task.complete", payload={"id": 7}),
                        )
                    ]
                ),
            ],
            status={"text": "Tasks", "icon": "check"},
        )
    return [
        UserMessageItem(
            id=f"{prefix}_user",
            thread_id=thread_id,
            created_at=now,
            content=[
                UserMessageTextContent(text="Hello "),
                UserMessageTagContent(id="tag1", text="Alice", data={"user": 1}, interactive=True),
            ],
            attachments=[
                FileAttachment(
                    id="atc_f", name="notes.txt", mime_type="text/plain", thread_id=thread_id
                ),
                ImageAttachment(
                    id="atc_i",
                    name="cat.png",
                    mime_type="image/png",
                    preview_url="https://example.org/p/cat.png",
                    thread_id=thread_id,
                    metadata={"width": 640},
                ),
            ],
            quoted_text="quoted bit",
            inference_options=InferenceOptions(tool_choice=ToolChoice(id="tasks"), model="gpt-x"),
        ),
        AssistantMessageItem(
            id=f"{prefix}_assistant",
            thread_id=thread_id,
            created_at=now,
            content=[
                AssistantMessageContent(
                    text="See the docs.",
                    annotations=[
                        Annotation(
                            source=URLSource(url="https://example.org", title="Docs"), index=4
                        ),
                        Annotation(source=FileSource(filename="a.pdf", title="A"), index=1),
                        Annotation(
                            source=EntitySource(id="e1", title="Entity", data={"k": [1, 2]}),
                            index=None,
                        ),
                    ],
                ),
                AssistantMessageContent(text="Second part"),
            ],
        ),
        ClientToolCallItem(
            id=f"{prefix}_tool",
            thread_id=thread_id,
            created_at=now,
            status="completed",
            call_id="call_1",
            name="get_location",
            arguments={"precise": True, "n": 3},
            output={"lat": 1.5, "lng": [2, 3]},
        ),
        WidgetItem(
            id=f"{prefix}_widget",
            thread_id=thread_id,
            created_at=now,
            widget=widget,
            copy_text="copy",
        ),
        GeneratedImageItem(
            id=f"{prefix}_image",
            thread_id=thread_id,
            created_at=now,
            image=GeneratedImage(id="img1", url="data:image/png;base64,AAAA"),
        ),
        StructuredInputItem(
            id=f"{prefix}_structured",
            thread_id=thread_id,
            created_at=now,
            status="answered",
            inputs=[
                StructuredInputMultipleChoice(
                    id="q1",
                    question="Colour?",
                    options=[StructuredInputMultipleChoiceOption(value="red")],
                    multiple=True,
                    answer=StructuredInputAnswer(values=["red"]),
                ),
                StructuredInputFreeform(id="q2", question="Why?", description="tell us"),
            ],
        ),
        WorkflowItem(
            id=f"{prefix}_workflow",
            thread_id=thread_id,
            created_at=now,
            workflow=Workflow(
                type="custom",
                tasks=[
                    CustomTask(
                        title="Step", content="did it", status_indicator="complete", icon="check"
                    ),
                    ThoughtTask(content="thinking"),
                    SearchTask(
                        queries=["q"], sources=[URLSource(url="https://s.example", title="S")]
                    ),
                ],
                summary=CustomSummary(title="Done", icon="check"),
                expanded=True,
            ),
        ),
        TaskItem(
            id=f"{prefix}_task",
            thread_id=thread_id,
            created_at=now,
            task=CustomTask(title="Saved", content="your task"),
        ),
        HiddenContextItem(
            id=f"{prefix}_hidden",
            thread_id=thread_id,
            created_at=now,
            content={"nested": {"list": [1, "two"]}},
        ),
        SDKHiddenContextItem(
            id=f"{prefix}_sdkhidden", thread_id=thread_id, created_at=now, content="cancelled"
        ),
        EndOfTurnItem(id=f"{prefix}_end", thread_id=thread_id, created_at=now),
    ]


def assert_contains(actual: object, expected: object, path: str = "") -> None:
    """Everything in ``expected`` is in ``actual`` (which may hold more, e.g.
    defaults the SDK's models fill in when JSON is read back)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not a dict"
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} is missing"
            assert_contains(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: {actual!r} is not a list"
        assert len(actual) == len(expected), f"{path}: {len(actual)} items, not {len(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_contains(a, e, f"{path}[{index}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
