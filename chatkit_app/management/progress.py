"""
Progress for long-running management commands: a tqdm bar on a terminal,
plain periodic lines otherwise (cron mail, CI logs, a file), where a bar's
carriage returns would be noise.

Progress goes to the command's stderr, so stdout stays clean for output
(``chatkit_export`` writes the data there) and for counts scripts read.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from tqdm import tqdm


class Progress:
    """``with Progress(self.stderr, total=n, label="Exported") as p: p.update(k)``"""

    def __init__(
        self,
        stream: Any,
        *,
        total: int | None,
        label: str,
        unit: str = "conversations",
        every: float = 5.0,
    ) -> None:
        # Django's OutputWrapper appends a newline to every write, which
        # would break a bar; tqdm gets the real stream.
        self.stream: TextIO = getattr(stream, "_out", stream)
        self.total = total
        self.label = label
        self.unit = unit
        self.every = every
        self.done = 0
        self.reported = 0
        self.last_report = time.monotonic()
        self.bar = (
            tqdm(total=total, desc=label, unit=f" {unit}", file=self.stream, dynamic_ncols=True)
            if self.stream.isatty()
            else None
        )

    def update(self, count: int = 1) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
        elif time.monotonic() - self.last_report >= self.every:
            self.report()

    def report(self) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        self.stream.write(f"{self.label}: {self.done}{of} {self.unit}\n")
        self.stream.flush()
        self.reported = self.done
        self.last_report = time.monotonic()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif 0 < self.reported < self.done:
            # A log that showed progress also shows the end; a short run
            # leaves the summary to the command.
            self.report()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
