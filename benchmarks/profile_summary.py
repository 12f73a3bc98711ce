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
    args = parser.parse_args()

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
