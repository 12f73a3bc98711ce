"""
Start the site with the production command, ``scripts/serve`` (uvicorn), on
the test database, and look at its processes from outside: their memory,
the temporary files they hold, and which worker owns a connection.

Only Linux's ``/proc`` is used, so what is measured is what the kernel sees.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .live_daphne import (
    BASE_DIR,
    child_environment,
    free_port,
    stop_process,
    wait_until_serving,
)

SERVE = BASE_DIR / "scripts" / "serve"


@dataclass
class ProductionServer:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    temp_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self) -> list[int]:
        """The supervisor and every process under it (the workers)."""
        found = [self.process.pid]
        for pid in found:
            found.extend(children(pid))
        return found

    def workers(self) -> list[int]:
        """The worker processes (multiprocessing's resource tracker is not one)."""
        return [
            pid
            for pid in self.pids()
            if pid != self.process.pid and b"resource_tracker" not in command_line(pid)
        ]

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def temp_file_bytes(self) -> int:
        """Bytes in regular files the processes hold open outside the project
        (request bodies spooled to disk, deleted or not)."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                        if target.startswith(str(BASE_DIR)) or target.endswith(".log"):
                            continue
                        if target.startswith("/") and not target.startswith(("/dev/", "/proc/")):
                            stat = os.stat(f"/proc/{pid}/fd/{fd}")
                            if stat.st_mode & 0o170000 == 0o100000:  # a regular file
                                total += stat.st_size
        return total

    def owner_of_connection(self, client_port: int) -> int | None:
        """The worker that accepted the connection from ``client_port``."""
        inode = server_socket_inode(self.port, client_port)
        if inode is None:
            return None
        for pid in self.workers():
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                            return pid
        return None


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.extend(int(child) for child in text.split())
    return found


def server_socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of 127.0.0.1:client_port -> server_port."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return fields[9]
    return None


@contextlib.contextmanager
def start_production_server(
    extra_env: dict[str, str] | None = None, *, workers: int = 1, timeout: float = 180
) -> Iterator[ProductionServer]:
    port = free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="chatkit-serve-tmp-"))
    log = tempfile.NamedTemporaryFile(prefix="serve-", suffix=".log", delete=False)  # noqa: SIM115
    env = child_environment(
        {
            "WEB_CONCURRENCY": str(workers),
            "PORT": str(port),
            # Anything a worker spools to disk lands here, where the test looks.
            "TMPDIR": str(temp_dir),
            **(extra_env or {}),
        }
    )
    process = subprocess.Popen(
        [str(SERVE)], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    server = ProductionServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        process=process,
        log_path=Path(log.name),
        temp_dir=temp_dir,
    )
    try:
        wait_until_serving(
            "scripts/serve",
            process,
            server.url,
            server.log,
            timeout=timeout,
            interval=0.2,
            # Every worker up, not only the first to accept.
            ready=lambda: server.log().count("Started server process") >= workers,
        )
        yield server
    finally:
        stop_process(process)
        log.close()
        os.unlink(log.name)
        for leftover in temp_dir.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()
        with contextlib.suppress(OSError):
            temp_dir.rmdir()


def connect(server: ProductionServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)
