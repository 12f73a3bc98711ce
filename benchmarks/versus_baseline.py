"""
Our site against the SDK's own ``ChatKitServer`` on an in-memory store, side by side.

The baseline (``baseline_server.py``) is what a user choosing a ChatKit
backend would otherwise run: the SDK's server on FastAPI + uvicorn (uvloop,
httptools, one process: an in-memory store cannot be shared) with a plain
in-memory store. Our site runs on PostgreSQL with production settings
(DEBUG off, a secret, HTTPS behind a proxy, live updates on, titles on unless
``--no-titles``) under the ASGI server chosen with ``--server``. Both talk to
the same fake model provider (``fake_provider_process.py``: a real local HTTP
server speaking the Chat Completions stream), which answers at once for the
fast figures and spreads the words over about three seconds for the slow one.

For each server and number of worker processes it prints, ours, the
baseline's and the ratio (ours / baseline):

- one turn: ``threads.create`` streamed to the end, p50, sequential;
- first event: time to the first server-sent event of that turn, p50;
- ``items.list`` of a thread of 40 items, p50;
- turns per second with 60 clients at once (and per process);
- N concurrent slow streams (default 500; our pool: 10 connections):
  completed, pool timeouts, wall time, peak RSS summed over each server's
  processes.

The fast figures are measured ``--repeat`` times, baseline and ours
alternating, and the p50 is over all samples (the spread of the per-round
p50s is printed beside it). The CPU time each process used is printed too:
the client's must stay small next to the servers'. ``--profile FILE``
records where each server's Python goes (py-spy), ``--perf TURNS`` each
server's CPU per turn by shared object (perf: the interpreter, the kernel,
native libraries). Not part of the tests.

    createdb -h 127.0.0.1 -p 55432 -U postgres chatsite_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:55432/chatsite_bench \\
        .venv/bin/python benchmarks/versus_baseline.py --server daphne uvicorn --workers 1 2

Extra packages: ``pip install -r benchmarks/requirements.txt``. The database
must be a scratch one: its name must contain "bench" or "scratch" (tables
are created, the benchmark user's conversations are deleted and re-created),
unless ``--force``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = BASE_DIR / "benchmarks"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
SERVERS = ("daphne", "uvicorn", "serve", "granian", "hypercorn")
USERNAME = "bench"
# Fast answers: 40 words at once. Slow ones: 30 words 0.1 s apart.
FAST_QUESTION = "Answer with 40 words, 0 s apart"
SLOW_QUESTION = "Answer with 30 words, 0.1 s apart"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# --- processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(roots: list[int]) -> list[int]:
    """``roots`` and all their descendants (worker processes)."""
    children = _children()
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with suppress(OSError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    return total


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    return total


@dataclass
class Server:
    """Processes serving one HTTP address (one, or several sharing a socket)."""

    name: str
    url: str
    processes: list[subprocess.Popen]
    log_path: Path

    def pids(self) -> list[int]:
        return process_tree([p.pid for p in self.processes])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_serving(server: Server, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        for process in server.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{server.name} exited:\n{server.log()[-3000:]}")
        try:
            httpx.get(f"{server.url}/health", timeout=2)
            return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not start:\n{server.log()[-3000:]}")
        time.sleep(0.2)


def start_processes(
    name: str, commands: list[list[str]], env: dict[str, str], port: int, pass_fds=()
) -> Server:
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115
        prefix=f"bench-{name}-", suffix=".log", delete=False
    )
    processes = [
        subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=pass_fds,
        )
        for command in commands
    ]
    server = Server(name, f"http://127.0.0.1:{port}", processes, Path(log.name))
    try:
        wait_serving(server)
    except BaseException:
        server.stop()
        raise
    return server


def site_commands(kind: str, workers: int, port: int, fd: int | None) -> list[list[str]]:
    app = "chatsite.asgi:application"
    if kind == "daphne":
        # daphne has no workers option: several processes accept on one
        # inherited listening socket (--fd), as under a process supervisor.
        where = ["--fd", str(fd)] if fd is not None else ["-b", "127.0.0.1", "-p", str(port)]
        command = [PYTHON, "-m", "daphne", *where, "--proxy-headers", "-v", "0", app]
        return [command] * workers
    if kind == "uvicorn":
        return [
            [
                *(PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)),
                *("--workers", str(workers), "--loop", "uvloop", "--http", "httptools"),
                *("--lifespan", "off", "--no-access-log", "--proxy-headers"),
            ]
        ]
    if kind == "serve":
        # What scripts/serve starts (chatsite/serve.py): uvicorn, a listening
        # socket per worker (SO_REUSEPORT).
        return [
            [
                *(PYTHON, "-m", "chatsite.serve", "--host", "127.0.0.1", "--port", str(port)),
                *("--workers", str(workers), "--no-access-log", "--proxy-headers"),
            ]
        ]
    if kind == "granian":
        return [
            [
                *(str(BIN / "granian"), "--interface", "asginl", "--host", "127.0.0.1"),
                *("--port", str(port), "--workers", str(workers), "--loop", "uvloop"),
                *("--http", "1", "--no-access-log", app),
            ]
        ]
    if kind == "hypercorn":
        return [
            [
                PYTHON,
                "-m",
                "hypercorn",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(workers),
                "-k",
                "uvloop",
                app,
            ]
        ]
    raise ValueError(kind)


@dataclass
class Setup:
    database_url: str
    provider_url: str
    provider_key: str
    titles: bool
    token: str = ""
    redis_url: str = ""
    redis_pid: int | None = None
    redis: bool | None = None  # None: when more than one process
    extra_env: dict[str, str] = field(default_factory=dict)

    def site_env(self, *, pool_max: int | None, redis: bool) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CHATKIT_", "OPENAI_", "GEMINI_", "DATABASE_"))
            and key not in ("REDIS_URL", "DEBUG", "SECRET_KEY")
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "chatsite.settings",
                "DJANGO_READ_DOT_ENV": "0",
                "DATABASE_URL": self.database_url,
                "DEBUG": "false",
                "SECRET_KEY": "benchmark-only-secret-key-" + "0123456789" * 4,
                # Production sits behind a TLS proxy: HTTPS redirect and HSTS
                # stay on, the client says it came over HTTPS.
                "USE_X_FORWARDED_PROTO": "true",
                "CHATKIT_PROVIDER": "openai-compatible",
                "CHATKIT_BASE_URL": self.provider_url,
                "CHATKIT_API_KEY": self.provider_key,
                "CHATKIT_MODEL": "fake-model",
                "CHATKIT_MAX_RETRIES": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if not self.titles:
            env["CHATKIT_GENERATE_TITLES"] = "false"
        if pool_max is not None:
            env["DATABASE_POOL_MAX_SIZE"] = str(pool_max)
        if redis and self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def baseline_env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATKIT_"))},
            "BASELINE_BASE_URL": self.provider_url,
            "BASELINE_API_KEY": self.provider_key,
            "PYTHONUNBUFFERED": "1",
        }


def start_site(
    setup: Setup, kind: str, workers: int, *, pool_max: int | None, redis: bool | None = None
) -> Server:
    port = free_port()
    env = setup.site_env(pool_max=pool_max, redis=workers > 1 if redis is None else redis)
    env.update(setup.extra_env)
    if kind == "daphne" and workers > 1:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1024)
        listener.set_inheritable(True)
        try:
            commands = site_commands(kind, workers, port, listener.fileno())
            return start_processes(
                f"{kind}-x{workers}", commands, env, port, pass_fds=(listener.fileno(),)
            )
        finally:
            listener.close()
    commands = site_commands(kind, workers, port, None)
    return start_processes(f"{kind}-x{workers}", commands, env, port)


def start_baseline(setup: Setup) -> Server:
    port = free_port()
    command = [PYTHON, "-m", "uvicorn", "baseline_server:app", "--app-dir", str(BENCH_DIR)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"]
    command += ["--http", "httptools", "--no-access-log"]
    return start_processes("baseline", [command], setup.baseline_env(), port)


def scratch_database_url(*, force: bool, hint: str = "") -> str:
    """``DATABASE_URL``, which must be PostgreSQL and, unless ``force``, named
    as a scratch database (``bench`` or ``scratch`` in its name): the
    benchmarks write to it. Exits with a message otherwise."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit(f"Set DATABASE_URL to a scratch PostgreSQL database{hint}.")
    name = database_url.rsplit("/", 1)[-1]
    if not force and "bench" not in name and "scratch" not in name:
        sys.exit(f"Refusing to write to {name!r}: use a scratch database or --force.")
    return database_url


def manage(setup: Setup, *args: str) -> str:
    return subprocess.run(
        [PYTHON, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=setup.site_env(pool_max=None, redis=False),
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def prepare_database(setup: Setup) -> None:
    manage(setup, "migrate", "-v0")
    if not (BASE_DIR / "staticfiles" / "staticfiles.json").exists():
        manage(setup, "collectstatic", "--noinput", "-v0")
    # By app label, so that moving modules inside the app changes nothing here.
    manage(
        setup,
        "shell",
        "-c",
        "from django.apps import apps;"
        "from django.contrib.auth import get_user_model;"
        f"user, _ = get_user_model().objects.get_or_create(username={USERNAME!r});"
        "apps.get_model('chatkit_app', 'Conversation').objects.filter(owner=user).delete();"
        "apps.get_model('chatkit_app', 'ModelUsage').objects.filter(user=user).delete()",
    )
    setup.token = manage(setup, "chatkit_token", USERNAME, "--name", "benchmark").split()[-1]


@contextmanager
def fake_provider() -> Iterator[tuple[str, str, subprocess.Popen]]:
    process = subprocess.Popen(
        [PYTHON, str(BENCH_DIR / "fake_provider_process.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url, key = process.stdout.readline().split()
        yield url, key, process
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def redis_server() -> Iterator[tuple[str, int | None]]:
    executable = shutil.which("redis-server")
    if executable is None:
        print("redis-server not found: several processes run without a shared channel layer")
        yield "", None
        return
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    process = subprocess.Popen(
        [
            *(executable, "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


class WaitSampler:
    """Samples, in a thread, what PostgreSQL's backends of our database are
    doing: how many run a statement, and how many of those wait for a lock
    (a hot row that concurrent turns update serializes them: they would
    show here as ``Lock`` waits, by the relation or row they wait for)."""

    def __init__(self, database_url: str, interval: float = 0.02):
        self.database_url, self.interval = database_url, interval
        self.samples = 0
        self.active = 0
        self.waits: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as connection:
            while not self._stop.is_set():
                rows = connection.execute(
                    "SELECT a.wait_event_type, a.wait_event, "
                    "       (SELECT string_agg(DISTINCT coalesce(l.relation::regclass::text, "
                    "               l.locktype), ',') FROM pg_locks l "
                    "        WHERE l.pid = a.pid AND NOT l.granted) "
                    "FROM pg_stat_activity a "
                    "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
                    "AND a.state = 'active'"
                ).fetchall()
                self.samples += 1
                self.active += len(rows)
                for kind, event, what in rows:
                    if kind in ("Lock", "LWLock", "IO", "IPC"):
                        key = f"{kind}:{event}" + (f" on {what}" if what else "")
                        self.waits[key] = self.waits.get(key, 0) + 1
                self._stop.wait(self.interval)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        waiting = sum(self.waits.values())
        top = sorted(self.waits.items(), key=lambda kv: -kv[1])[:4]
        return (
            f"{self.active / self.samples:.2f} statements running on average, "
            f"{waiting / self.samples:.2f} of them waiting ({waiting / (self.active or 1):.0%})"
            + (": " + ", ".join(f"{k} {v / self.samples:.2f}" for k, v in top) if top else "")
        )


class PeakRss:
    """Samples the summed RSS of each server's processes in a thread."""

    def __init__(self, servers: dict[str, Server], interval: float = 0.25):
        self.servers, self.interval = servers, interval
        self.peak = dict.fromkeys(servers, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, server in self.servers.items():
                self.peak[name] = max(self.peak[name], rss_bytes(server.pids()))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the client ----------------------------------------------------------------------


def create_body(text: str) -> bytes:
    return json.dumps(
        {
            "type": "threads.create",
            "params": {
                "input": {
                    "content": [{"type": "input_text", "text": text}],
                    "attachments": [],
                    "inference_options": {},
                }
            },
        }
    ).encode()


def add_message_body(thread_id: str, text: str) -> bytes:
    return json.dumps(
        {
            "type": "threads.add_user_message",
            "params": {
                "thread_id": thread_id,
                "input": {
                    "content": [{"type": "input_text", "text": text}],
                    "attachments": [],
                    "inference_options": {},
                },
            },
        }
    ).encode()


def items_body(thread_id: str, limit: int) -> bytes:
    return json.dumps(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": limit, "order": "asc"}}
    ).encode()


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]


@dataclass
class Turn:
    first: float  # seconds to the first server-sent event
    total: float  # seconds to the end of the stream
    ok: bool
    status: int
    thread_id: str = ""
    body: bytes = b""


async def turn(session: aiohttp.ClientSession, target: Target, body: bytes) -> Turn:
    started = time.perf_counter()
    first = 0.0
    chunks: list[bytes] = []
    try:
        async with session.post(f"{target.url}/chatkit", data=body, headers=target.headers) as r:
            async for chunk in r.content.iter_any():
                if not first:
                    first = time.perf_counter() - started
                chunks.append(chunk)
            status = r.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return Turn(0.0, time.perf_counter() - started, False, 0, body=repr(exc).encode())
    total = time.perf_counter() - started
    data = b"".join(chunks)
    ok = (
        status == 200
        and b'"type":"error"' not in data
        and data.count(b'"type":"thread.item.done"') >= 2
    )
    thread_id = ""
    if ok and data.startswith(b"data: "):
        first_event = json.loads(data[6 : data.index(b"\n")])
        thread_id = first_event.get("thread", {}).get("id", "")
    return Turn(first or total, total, ok, status, thread_id, data if not ok else b"")


def session(limit: int = 100, fresh_connections: bool = False) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, force_close=fresh_connections),
        timeout=aiohttp.ClientTimeout(total=300),
    )


async def sequential_turns(target: Target, count: int) -> list[Turn]:
    async with session(limit=1) as s:
        return [await turn(s, target, create_body(FAST_QUESTION)) for _ in range(count)]


async def seed_thread(target: Target, items: int) -> str:
    """A thread of ``items`` items (a question and an answer per turn)."""
    async with session(limit=1) as s:
        first = await turn(s, target, create_body(FAST_QUESTION))
        if not first.ok:
            raise RuntimeError(f"{target.name}: seeding failed: {first.body[:500]!r}")
        for _ in range(items // 2 - 1):
            later = await turn(s, target, add_message_body(first.thread_id, FAST_QUESTION))
            if not later.ok:
                raise RuntimeError(f"{target.name}: seeding failed: {later.body[:500]!r}")
        return first.thread_id


async def items_lists(target: Target, thread_id: str, count: int, limit: int) -> list[float]:
    times = []
    async with session(limit=1) as s:
        for _ in range(count):
            started = time.perf_counter()
            async with s.post(
                f"{target.url}/chatkit", data=items_body(thread_id, limit), headers=target.headers
            ) as r:
                payload = await r.read()
            times.append(time.perf_counter() - started)
            if r.status != 200 or len(json.loads(payload)["data"]) != limit:
                raise RuntimeError(f"{target.name}: items.list gave {r.status}: {payload[:300]!r}")
    return times


async def concurrent_turns(
    target: Target, clients: int, per_client: int, question: str
) -> tuple[list[Turn], float]:
    """``clients`` clients, each asking ``per_client`` questions one after the
    other, on a new connection each (as many browsers behind a proxy would)."""

    async def client(s: aiohttp.ClientSession) -> list[Turn]:
        return [await turn(s, target, create_body(question)) for _ in range(per_client)]

    async with session(limit=0, fresh_connections=True) as s:
        started = time.perf_counter()
        results = await asyncio.gather(*(client(s) for _ in range(clients)))
        wall = time.perf_counter() - started
    return [t for per in results for t in per], wall


async def warm_up(target: Target) -> None:
    turns = await sequential_turns(target, 5)
    if not all(t.ok for t in turns):
        bad = next(t for t in turns if not t.ok)
        raise RuntimeError(f"{target.name}: warm-up turn failed ({bad.status}): {bad.body[:800]!r}")
    await concurrent_turns(target, 20, 1, FAST_QUESTION)


# --- measuring and printing ----------------------------------------------------------


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Measured:
    """Samples of one figure for one target, over all rounds."""

    samples: list[float] = field(default_factory=list)
    round_p50s: list[float] = field(default_factory=list)
    cpu: float = 0.0
    count: int = 0
    errors: int = 0

    def add_round(self, samples: list[float]) -> None:
        self.samples += samples
        self.round_p50s.append(p50(samples))


@dataclass
class Block:
    """Everything measured for one server and worker count."""

    label: str
    workers: int
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, name: str, ours: str, baseline: str, ratio: str) -> None:
        self.rows.append((name, ours, baseline, ratio))
        print(f"  {name:<34} {ours:>18} {baseline:>18} {ratio:>8}", flush=True)


def spread(values: list[float], scale: float = 1000) -> str:
    return f"{min(values) * scale:.0f}–{max(values) * scale:.0f}" if len(values) > 1 else ""


def machine_cpu_seconds() -> tuple[float, float]:
    """Busy and idle CPU seconds of the whole machine, all cores (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    busy = sum(values[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / CLOCK_TICKS, idle / CLOCK_TICKS


def postgres_backends(database_url: str) -> list[int]:
    """The pids of PostgreSQL's backends connected to our database (our
    servers' pools: they live as long as the server, so a phase sees them)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [row[0] for row in rows]


class Meter:
    """CPU time, over one phase, of: each server (and each of ours' worker
    processes), PostgreSQL's backends of our database, the Redis server,
    the fake provider, this client, and the whole machine (busy / idle on
    all cores: what else ran counts as "other")."""

    def __init__(
        self,
        servers: dict[str, Server],
        provider_pid: int,
        *,
        database_url: str = "",
        redis_pid: int | None = None,
    ):
        self.servers, self.provider_pid = servers, provider_pid
        self.database_url, self.redis_pid = database_url, redis_pid

    @contextmanager
    def phase(self, into: dict[str, dict[str, float]], who: str) -> Iterator[None]:
        """Add the CPU used while the block runs to ``into[who]`` (the
        phase is ``who``'s: only its server is loaded meanwhile)."""
        before = self._now()
        started = time.perf_counter()
        yield
        wall = time.perf_counter() - started
        after = self._now()
        sums = into.setdefault(who, {})
        sums["wall"] = sums.get("wall", 0.0) + wall
        for key in after:
            # A process that appeared during the phase started from zero.
            sums[key] = sums.get(key, 0.0) + after[key] - before.get(key, 0.0)

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(server.pids()) for name, server in self.servers.items()}
        ours = self.servers.get("ours")
        if ours is not None:
            workers = ours.pids()
            # uvicorn/granian/hypercorn: a supervisor and its workers.
            for pid in workers:
                now[f"ours pid {pid}"] = cpu_seconds([pid])
        if self.database_url:
            for pid in postgres_backends(self.database_url):
                now[f"pg {pid}"] = cpu_seconds([pid])
        if self.redis_pid is not None:
            now["redis"] = cpu_seconds([self.redis_pid])
        now["provider"] = cpu_seconds([self.provider_pid])
        now["client"] = time.process_time()
        now["machine busy"], now["machine idle"] = machine_cpu_seconds()
        return now


def cpu_note(
    label: str, cpu: dict[str, dict[str, float]], turns: dict[str, int], unit: str = "turn"
) -> str:
    """Per phase owner: CPU ms per turn (or other ``unit``) of each process
    kind, and how busy the machine's cores were (a phase at 0% idle is
    bounded by the machine)."""
    lines = [f"CPU, {label} (ms per {unit}; each while only that server was loaded):"]
    cores = os.cpu_count() or 1
    for who in ("ours", "baseline"):
        sums, count = cpu.get(who), turns.get(who)
        if not sums or not count:
            continue

        def ms(value: float, count: int = count) -> str:
            return f"{value / count * 1000:.1f}"

        server = sums.get(who, 0.0)
        postgres = sum(v for k, v in sums.items() if k.startswith("pg "))
        redis, provider, client = (
            sums.get("redis", 0.0),
            sums.get("provider", 0.0),
            sums.get("client", 0.0),
        )
        busy, idle, wall = (
            sums.get("machine busy", 0.0),
            sums.get("machine idle", 0.0),
            sums["wall"],
        )
        ours_part = server + postgres + redis if who == "ours" else server
        known = ours_part + provider + client
        parts = [f"server {ms(server)}"]
        if who == "ours":
            workers = sorted(
                (v for k, v in sums.items() if k.startswith("ours pid ") and v > 0.05 * server),
                reverse=True,
            )
            if len(workers) > 1:
                parts.append("per process " + " / ".join(ms(v) for v in workers))
            parts += [f"postgres {ms(postgres)}", f"redis {ms(redis)}"]
        parts += [
            f"provider {ms(provider)}",
            f"client {ms(client)}",
            f"other {ms(max(busy - known, 0.0))}",
            f"machine busy {ms(busy)}",
        ]
        # The share of all cores in use over the phase, and the server's
        # own share of one core (1 process can use at most 100%).
        lines.append(
            f"    {who:<8} "
            + ", ".join(parts)
            + f"; {count / wall:.1f} {unit}s/s, cores {busy / (busy + idle or 1):.0%} busy"
            + f" ({cores} cores), server {server / wall:.0%} of a core"
        )
    return "\n".join(lines)


def run_block(
    setup: Setup, kind: str, workers: int, args: argparse.Namespace, provider_pid: int
) -> Block:
    block = Block(f"{kind}, {workers} worker{'s' if workers > 1 else ''}", workers)
    print(f"\n== ours on {block.label} vs baseline (uvicorn, 1 process) ==", flush=True)
    print(f"  {'figure':<34} {'ours':>18} {'baseline':>18} {'ratio':>8}")
    headers = {
        "Authorization": f"Bearer {setup.token}",
        "Content-Type": "application/json",
        "X-Forwarded-Proto": "https",
    }

    # --- fast figures ---
    ours_server = start_site(setup, kind, workers, pool_max=None, redis=setup.redis)
    baseline_server = start_baseline(setup)
    servers = {"ours": ours_server, "baseline": baseline_server}
    targets = {name: Target(name, server.url, headers) for name, server in servers.items()}
    meter = Meter(servers, provider_pid, database_url=setup.database_url, redis_pid=setup.redis_pid)
    try:
        for target in targets.values():
            asyncio.run(warm_up(target))
        thread_ids = {name: asyncio.run(seed_thread(t, args.items)) for name, t in targets.items()}

        if args.profile:
            profile = Path(args.profile)
            for name, output in (
                ("ours", profile),
                ("baseline", profile.with_suffix(".baseline.txt")),
            ):
                profile_loop(servers[name], targets[name], thread_ids[name], args, output)
        if args.perf:
            perf_by_object({name: (servers[name], targets[name]) for name in targets}, args)

        turns = {name: Measured() for name in targets}
        firsts = {name: Measured() for name in targets}
        items = {name: Measured() for name in targets}
        tput: dict[str, list[float]] = {name: [] for name in targets}
        tput_errors = dict.fromkeys(targets, 0)
        waits: list[str] = []
        cpu_turn: dict[str, dict[str, float]] = {}
        cpu_tput: dict[str, dict[str, float]] = {}
        cpu_list: dict[str, dict[str, float]] = {}
        list_counts = dict.fromkeys(targets, 0)
        turn_counts = dict.fromkeys(targets, 0)
        tput_counts = dict.fromkeys(targets, 0)
        for round_ in range(args.repeat):
            order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
            for name in order:
                with meter.phase(cpu_turn, name):
                    done = asyncio.run(sequential_turns(targets[name], args.turns))
                turn_counts[name] += len(done)
                turns[name].errors += sum(not t.ok for t in done)
                turns[name].add_round([t.total for t in done if t.ok])
                firsts[name].add_round([t.first for t in done if t.ok])
                listed = items_lists(targets[name], thread_ids[name], args.lists, args.items)
                with meter.phase(cpu_list, name):
                    items[name].add_round(asyncio.run(listed))
                list_counts[name] += args.lists
            for name in order:
                sampler = WaitSampler(setup.database_url) if name == "ours" else None
                with meter.phase(cpu_tput, name), sampler or nullcontext():
                    done, wall = asyncio.run(
                        concurrent_turns(
                            targets[name], args.clients, args.per_client, FAST_QUESTION
                        )
                    )
                tput_counts[name] += len(done)
                good = sum(t.ok for t in done)
                tput_errors[name] += len(done) - good
                tput[name].append(good / wall)
                if sampler is not None:
                    waits.append(sampler.summary())

        def ms_row(name: str, measured: dict[str, Measured]) -> None:
            ours, base = p50(measured["ours"].samples), p50(measured["baseline"].samples)
            block.row(
                name,
                f"{ours * 1000:.1f} ms ({spread(measured['ours'].round_p50s)})",
                f"{base * 1000:.1f} ms ({spread(measured['baseline'].round_p50s)})",
                f"{ours / base:.2f}x",
            )

        ms_row("one turn, p50", turns)
        ms_row("first event, p50", firsts)
        ms_row(f"items.list of {args.items}, p50", items)
        ours_tps, base_tps = p50(tput["ours"]), p50(tput["baseline"])
        block.row(
            f"turns/s, {args.clients} clients",
            f"{ours_tps:.1f} ({min(tput['ours']):.1f}–{max(tput['ours']):.1f})",
            f"{base_tps:.1f} ({min(tput['baseline']):.1f}–{max(tput['baseline']):.1f})",
            f"{ours_tps / base_tps:.2f}x",
        )
        if workers > 1:
            block.row(
                "turns/s per process",
                f"{ours_tps / workers:.1f}",
                f"{base_tps:.1f}",
                f"{ours_tps / workers / base_tps:.2f}x",
            )
        errors = {n: turns[n].errors + tput_errors[n] for n in targets}
        if any(errors.values()):
            block.row("failed turns", str(errors["ours"]), str(errors["baseline"]), "")
        block.tps = ours_tps  # type: ignore[attr-defined]
        block.notes.append(cpu_note("sequential turns", cpu_turn, turn_counts))
        block.notes.append(cpu_note("concurrent turns", cpu_tput, tput_counts))
        block.notes.append(
            cpu_note(f"items.list of {args.items}", cpu_list, list_counts, unit="items.list")
        )
        for wait in waits:
            block.notes.append(f"PostgreSQL during our concurrent turns: {wait}")
        block.notes.append(
            "RSS after the fast figures: "
            f"ours {rss_bytes(ours_server.pids()) / 2**20:.0f} MB, "
            f"baseline {rss_bytes(baseline_server.pids()) / 2**20:.0f} MB"
        )
    finally:
        ours_server.stop()
        baseline_server.stop()
        ours_log = ours_server.log()
        os.unlink(ours_server.log_path)
        os.unlink(baseline_server.log_path)
    if "Traceback" in ours_log:
        block.notes.append("our server logged a traceback:\n" + ours_log[-2000:])

    # --- slow streams: a fresh pair, our pool at --pool ---
    if args.streams:
        slow_block(setup, kind, workers, args, provider_pid, block, headers)
    for note in block.notes:
        print("  " + note)
    return block


def slow_block(
    setup: Setup,
    kind: str,
    workers: int,
    args: argparse.Namespace,
    provider_pid: int,
    block: Block,
    headers: dict[str, str],
) -> None:
    ours_server = start_site(setup, kind, workers, pool_max=args.pool, redis=setup.redis)
    baseline_server = start_baseline(setup)
    servers = {"ours": ours_server, "baseline": baseline_server}
    targets = {name: Target(name, server.url, headers) for name, server in servers.items()}
    meter = Meter(servers, provider_pid, database_url=setup.database_url, redis_pid=setup.redis_pid)
    results: dict[str, tuple[list[Turn], float, int]] = {}
    cpu: dict[str, dict[str, float]] = {}
    try:
        for target in targets.values():
            asyncio.run(warm_up(target))
        for name in targets:
            with PeakRss({name: servers[name]}) as peak, meter.phase(cpu, name):
                done, wall = asyncio.run(
                    concurrent_turns(targets[name], args.streams, 1, SLOW_QUESTION)
                )
            results[name] = (done, wall, peak.peak[name])
    finally:
        ours_server.stop()
        baseline_server.stop()
        ours_log, baseline_log = ours_server.log(), baseline_server.log()
        os.unlink(ours_server.log_path)
        os.unlink(baseline_server.log_path)

    def completed(name: str) -> str:
        return f"{sum(t.ok for t in results[name][0])}/{args.streams}"

    n = args.streams
    block.row(f"{n} slow streams: completed", completed("ours"), completed("baseline"), "")
    # One line per timeout: the exception's own line ends each logged traceback.
    pool_timeouts = sum(
        "PoolTimeout: couldn't get a connection" in line for line in ours_log.splitlines()
    )
    unavailable = sum(t.status == 503 for t in results["ours"][0])
    block.row(
        f"{n} slow streams: pool timeouts",
        f"{pool_timeouts} ({unavailable} x 503)",
        "-",
        "",
    )
    ours_wall, base_wall = results["ours"][1], results["baseline"][1]
    block.row(
        f"{n} slow streams: wall time",
        f"{ours_wall:.2f} s",
        f"{base_wall:.2f} s",
        f"{ours_wall / base_wall:.2f}x",
    )
    ours_rss, base_rss = results["ours"][2] / 2**20, results["baseline"][2] / 2**20
    block.row(
        f"{n} slow streams: peak RSS",
        f"{ours_rss:.0f} MB",
        f"{base_rss:.0f} MB",
        f"{ours_rss / base_rss:.2f}x",
    )
    for name in targets:
        note_failures(block, name, [t for t in results[name][0] if not t.ok])
    block.notes.append(cpu_note("slow streams", cpu, {"ours": n, "baseline": n}))
    if "Traceback" in ours_log:
        block.notes.append("our server logged a traceback (slow streams):\n" + ours_log[-2000:])
    if "Traceback" in baseline_log:
        block.notes.append("the baseline logged a traceback:\n" + baseline_log[-2000:])


def note_failures(block: Block, name: str, failures: list[Turn]) -> None:
    if failures:
        kinds: dict[str, int] = {}
        for t in failures:
            kind = (
                "no answer (client error)"
                if t.status == 0
                else "error event"
                if t.status == 200 and b'"type":"error"' in t.body
                else f"HTTP {t.status}"
            )
            kinds[kind] = kinds.get(kind, 0) + 1
        example = next((t for t in failures if b'"type":"error"' in t.body), failures[0])
        error_at = example.body.find(b'"type":"error"')
        block.notes.append(
            f"slow streams that failed on {name}: {kinds}; for example "
            f"{example.body[max(0, error_at - 20) : error_at + 200]!r}"
        )


def profile_loop(
    server: Server, target: Target, thread_id: str, args: argparse.Namespace, output: Path
) -> None:
    """Record where a server's time goes during a sequential loop of turns
    or, with ``--profile-lists``, of ``items.list`` calls on the seeded
    thread (py-spy, attached to the process that serves; not measured)."""
    pids = server.pids()
    pid = pids[-1] if len(pids) > 1 else pids[0]
    # --nonblocking: py-spy pausing the process for every sample slowed ours
    # (dozens of pooled threads to walk) 3.4x and the baseline not at all
    # (212 against 63 ms a turn), which skews the shares.
    recorder = subprocess.Popen(
        [str(BIN / "py-spy"), "record", "--pid", str(pid), "--rate", "250"]
        + ["--format", args.profile_format, "--output", str(output), "--threads", "--nonblocking"]
        + (["--idle"] if args.profile_idle else [])
        + (["--gil"] if args.profile_gil else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    started = time.perf_counter()
    if args.profile_lists:
        what = "items.list calls"
        count = len(asyncio.run(items_lists(target, thread_id, args.profile_lists, args.items)))
    else:
        what = "turns"
        count = len(asyncio.run(sequential_turns(target, args.profile_turns)))
    elapsed = time.perf_counter() - started
    recorder.send_signal(signal.SIGINT)
    _, err = recorder.communicate(timeout=60)
    print(
        f"  profiled {count} {what} ({elapsed / count * 1000:.1f} ms each) of pid {pid} "
        f"into {output}" + (f"; py-spy: {err.strip()[-300:]}" if recorder.returncode else "")
    )


def perf_by_object(servers: dict[str, tuple[Server, Target]], args: argparse.Namespace) -> None:
    """Each server's CPU per sequential turn by the shared object it ran in
    (the interpreter, the kernel, pydantic-core, uvloop, libpq...), from
    ``perf record -e cpu-clock`` on the serving process: native code and
    the kernel, which py-spy does not see (uvloop's own work shows there as
    the idle ``Runner.run``). ``cpu-clock`` is a software event, so it works
    on machines that give perf no hardware counters."""
    perf = shutil.which("perf")
    if perf is None:
        print("  --perf: no perf on this machine (Debian: apt-get install linux-perf)")
        return
    per_object: dict[str, dict[str, float]] = {}
    for name, (server, target) in servers.items():
        pids = server.pids()
        pid = pids[-1] if len(pids) > 1 else pids[0]
        data = Path(tempfile.mkdtemp(prefix="bench-perf-")) / f"{name}.data"
        recorder = subprocess.Popen(
            [perf, "record", "-e", "cpu-clock", "-F", "2000", "-p", str(pid), "-o", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        count = len(asyncio.run(sequential_turns(target, args.perf)))
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)
        report = subprocess.run(
            [perf, "report", "-i", str(data), "--sort", "dso", "--stdio", "-F", "period,dso"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        shutil.rmtree(data.parent)
        shares: dict[str, float] = {}
        for line in report.splitlines():
            period, _, dso = line.strip().partition(" ")
            if period.isdigit():
                shares[dso.strip()] = int(period) / 1e6 / count  # ns -> ms per turn
        per_object[name] = shares
    print(f"  CPU per sequential turn by shared object (perf cpu-clock, {args.perf} turns, ms):")
    totals = {name: sum(shares.values()) for name, shares in per_object.items()}
    objects = sorted(
        {dso for shares in per_object.values() for dso in shares},
        key=lambda dso: -max(shares.get(dso, 0.0) for shares in per_object.values()),
    )
    print(f"    {'object':<50} {'ours':>7} {'baseline':>9}")
    for dso in objects[:10]:
        ours, baseline = (per_object[name].get(dso, 0.0) for name in ("ours", "baseline"))
        print(f"    {dso[:50]:<50} {ours:7.2f} {baseline:9.2f}")
    print(f"    {'all':<50} {totals['ours']:7.2f} {totals['baseline']:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", nargs="+", choices=SERVERS, default=["daphne"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the fast figures")
    parser.add_argument("--turns", type=int, default=30, help="sequential turns per round")
    parser.add_argument("--items", type=int, default=40, help="items in the listed thread")
    parser.add_argument("--lists", type=int, default=50, help="items.list calls per round")
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--per-client", type=int, default=5, help="turns per client per round")
    parser.add_argument("--streams", type=int, default=500, help="slow streams at once (0: skip)")
    parser.add_argument("--pool", type=int, default=10, help="our pool for the slow streams")
    parser.add_argument("--no-titles", dest="titles", action="store_false")
    parser.add_argument(
        "--redis",
        choices=["auto", "on", "off"],
        default="auto",
        help="Redis channel layer for ours (auto: when more than one process, as in production)",
    )
    parser.add_argument(
        "--env",
        nargs="*",
        action="extend",
        default=[],
        metavar="NAME=VALUE",
        help="extra settings for ours, e.g. CHATKIT_LIVE_UPDATES=false (to see what a part costs)",
    )
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument(
        "--profile", help="py-spy output for a turn loop on ours (and FILE.baseline.txt)"
    )
    parser.add_argument("--profile-format", default="raw", choices=["raw", "speedscope"])
    parser.add_argument("--profile-turns", type=int, default=300)
    parser.add_argument(
        "--profile-lists",
        type=int,
        default=0,
        metavar="N",
        help="profile N items.list calls of the seeded thread instead of turns",
    )
    parser.add_argument("--profile-idle", action="store_true")
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="sample only the thread holding the GIL (what runs Python, not what waits for it)",
    )
    parser.add_argument(
        "--perf",
        type=int,
        default=0,
        metavar="TURNS",
        help="CPU per turn of both servers by shared object (perf cpu-clock) over TURNS turns",
    )
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.turns, args.lists, args.per_client = 1, 8, 10, 1
        args.streams = min(args.streams, 50)
        args.profile_turns = min(args.profile_turns, 30)

    database_url = scratch_database_url(force=args.force, hint=" (see the docstring)")

    started = time.strftime("%Y-%m-%d %H:%M")
    with fake_provider() as (url, key, provider), redis_server() as (redis_url, redis_pid):
        setup = Setup(
            database_url,
            url,
            key,
            args.titles,
            redis_url=redis_url,
            redis_pid=redis_pid,
            redis={"auto": None, "on": True, "off": False}[args.redis],
            extra_env=dict(pair.split("=", 1) for pair in args.env),
        )
        prepare_database(setup)
        print(
            f"{started}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; titles "
            f"{'on' if args.titles else 'off'}; {args.repeat} round(s) of {args.turns} turns, "
            f"{args.lists} items.list, {args.clients} clients x {args.per_client} turns; "
            f"{args.streams} slow streams (pool {args.pool}); redis {args.redis}"
            + (f"; {' '.join(args.env)}" if args.env else "")
        )
        blocks: list[Block] = []
        for kind in args.server:
            for workers in args.workers:
                blocks.append(run_block(setup, kind, workers, args, provider.pid))
        by_kind: dict[str, dict[int, float]] = {}
        for block in blocks:
            by_kind.setdefault(block.label.split(",")[0], {})[block.workers] = block.tps  # type: ignore[attr-defined]
        for kind, per_workers in by_kind.items():
            if 1 in per_workers:
                for workers, tps in sorted(per_workers.items()):
                    if workers > 1:
                        print(
                            f"\n{kind}: {workers} workers give {tps / per_workers[1]:.2f}x "
                            f"the turns/s of one"
                        )
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
