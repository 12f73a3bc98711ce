"""
Where a py-spy profile's time goes: inclusive and self shares of functions.

Reads py-spy's ``raw`` output (collapsed stacks, one ``frame;frame;… count``
a line, as ``versus_baseline.py --profile FILE`` records it) and prints the
functions with the largest inclusive share (on the stack) and self share
(at the top), then the share of every ``--match`` pattern (a substring of
``function (file:line)``; a stack counts once per pattern however often it
matches). Idle samples (a thread waiting in ``select``, ``epoll``, a lock
a queue, or psycopg waiting for the database's answer; uvloop's loop
waiting, which py-spy shows as ``Runner.run`` itself) are left out unless
``--idle``.

    .venv/bin/python benchmarks/profile_summary.py profile.txt --top 40 \\
        --match whitenoise asgiref/sync.py "TypeAdapter" model_rebuild

``--parts N`` instead sorts every sample of ``FILE`` and of
``FILE.baseline.txt`` (what ``versus_baseline.py --profile FILE`` records
beside it) into the parts of a turn (``PARTS``: the first part with a frame
on the stack takes the sample) and prints each part's milliseconds per turn
in both, N being the turns profiled: where ours spends what the in-memory
baseline does not.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(
    r"\b(select|poll|epoll|_worker|wait|acquire|get|sleep|run_forever|_run_once|run)\b"
    r" \((selectors|threading|queue|concurrent/futures/thread|asyncio/base_events|"
    r"asyncio/runners|uvloop|asgiref/current_thread_executor|socket|psycopg/connection)"
)


#: The parts of a turn, in the order a sample is sorted into them: a sample
#: belongs to the first part that has a frame on its stack (the title call
#: goes through the openai client too, but counts as the title).
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("title call (ours only)", ("responders/titles.py",)),
    ("ORM work on the database threads", ("chatkit_app/db.py",)),
    ("TypeAdapter(ChatKitReq) built per request", ("TypeAdapter.__init__",)),
    ("live relay", ("live/relay.py",)),
    (
        "provider request and stream (openai, httpx)",
        ("AsyncCompletions.create", "AsyncStream.__stream__", "httpx2", "httpcore2"),
    ),
    ("Agents SDK run", ("agents/",)),
    ("ChatKit SDK (stream_agent_response, server)", ("chatkit/agents.py", "chatkit/server.py")),
    (
        "our responder, reply run, handoff, store",
        (
            "chatkit_app/responders",
            "chatkit_app/runs",
            "chatkit_app/handoff",
            "chatkit_app/server.py",
            "chatkit_app/store.py",
        ),
    ),
    ("writing the response", ("RequestResponseCycle.send", "send_response", "guarded_send")),
    (
        "Django's handler and middleware, the view",
        (
            "django/core/handlers",
            "chatkit_app/middleware",
            "chatkit_app/views.py",
            "servestatic",
            "corsheaders",
            "chatkit_app/csp",
            "channels/routing",
        ),
    ),
    ("FastAPI and Starlette", ("starlette/", "fastapi/")),
    (
        "thread hops and tasks (event loop side)",
        ("asgiref/sync.py", "asyncio/tasks.py", "asgi_threads.py"),
    ),
    ("uvicorn's HTTP protocol", ("uvicorn/protocols",)),
]


#: Where a sample with no part's frame goes.
REST = "the rest (event loop, pydantic, asyncio, ...)"


def part_of(frames: list[str]) -> str:
    stack = ";".join(frames)
    for name, patterns in PARTS:
        if any(pattern in stack for pattern in patterns):
            return name
    return REST


def parts_table(path: Path, turns: int, rate: int) -> None:
    # Named as versus_baseline.py --profile names it.
    paths = {"ours": path, "baseline": path.with_suffix(".baseline.txt")}
    per_turn: dict[str, Counter[str]] = {}
    for name, where in paths.items():
        counts: Counter[str] = Counter()
        if where.exists():
            for frames, count in read(where, idle=False, with_line=False):
                counts[part_of(frames)] += count
        per_turn[name] = counts
    scale = 1000 / rate / turns  # samples -> ms per turn
    names = [name for name, _ in PARTS] + [REST]
    heading = f"ms per turn ({rate} samples a second, {turns} turns)"
    print(f"{heading:<48} {'ours':>7} {'baseline':>9}")
    for name in names:
        ours, baseline = per_turn["ours"][name] * scale, per_turn["baseline"][name] * scale
        print(f"  {name:<46} {ours:7.2f} {baseline:9.2f}")
    totals = [sum(per_turn[n].values()) * scale for n in ("ours", "baseline")]
    print(f"  {'all':<46} {totals[0]:7.2f} {totals[1]:9.2f}")


def frame_key(frame: str, with_line: bool) -> str:
    return frame if with_line else re.sub(r":\d+\)$", ")", frame)


def read(path: Path, idle: bool, with_line: bool) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame_key(f, with_line) for f in stack.split(";")]
        # py-spy --threads puts the thread first: not a function.
        if frames and frames[0].startswith(("thread (", "process ")):
            frames = frames[1:]
        while frames and frames[0].startswith("process "):
            frames = frames[1:]
        if not idle and frames and IDLE.search(frames[-1]):
            continue
        stacks.append((frames, int(count)))
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", nargs="*", default=[])
    parser.add_argument(
        "--callers", nargs="*", default=[], help="who calls the frames matching these"
    )
    parser.add_argument("--idle", action="store_true", help="keep idle samples")
    parser.add_argument("--lines", action="store_true", help="tell lines of a function apart")
    parser.add_argument(
        "--parts",
        type=int,
        metavar="TURNS",
        help="ms per turn of each part of a turn, ours against FILE.baseline.txt",
    )
    parser.add_argument("--rate", type=int, default=250, help="py-spy's samples a second")
    args = parser.parse_args()
    if args.parts:
        parts_table(args.profile, args.parts, args.rate)
        return

    stacks = read(args.profile, args.idle, args.lines)
    total = sum(count for _, count in stacks)
    if not total:
        raise SystemExit("no samples")
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    print(f"{total} samples{' (idle left out)' if not args.idle else ''}\n")
    print(f"inclusive (top {args.top}):")
    for frame, count in inclusive.most_common(args.top):
        print(f"  {count / total:6.1%}  {frame}")
    print(f"\nself (top {args.top}):")
    for frame, count in own.most_common(args.top):
        print(f"  {count / total:6.1%}  {frame}")
    if args.match:
        print("\npatterns (share of samples with a matching frame on the stack):")
        for pattern in args.match:
            hits = sum(count for frames, count in stacks if any(pattern in f for f in frames))
            print(f"  {hits / total:6.1%}  {pattern}")
    for pattern in args.callers:
        callers: Counter[str] = Counter()
        for frames, count in stacks:
            for index, frame in enumerate(frames):
                if pattern in frame:
                    callers[frames[index - 1] if index else "(root)"] += count
                    break
        print(f"\ncallers of {pattern}:")
        for frame, count in callers.most_common(8):
            print(f"  {count / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
