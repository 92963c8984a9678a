"""Shared by the HTTP benchmarks: start ``rollback-advisor serve`` on loopback and drive it
from client threads. Prints figures; asserts nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

KEY = "bench-server-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(database: str, workers: int) -> Iterator[str]:
    """Run the real server (gunicorn) against ``database``; yield its base URL."""
    with serving(database, workers) as (base, _pid):
        yield base


@contextmanager
def serving(database: str, workers: int) -> Iterator[tuple[str, int]]:
    """``server``, yielding its base URL and the process id of gunicorn's master."""
    tmp = Path(tempfile.mkdtemp(prefix="ra-bench-"))
    config = tmp / "config.yaml"
    config.write_text("server:\n  secret_key: {$env: RA_BENCH_KEY}\n  read_auth: false\n")
    port = free_port()
    env = {**os.environ, "RA_BENCH_KEY": KEY, "ROLLBACK_ADVISOR_DATABASE_URL": database,
           "ROLLBACK_ADVISOR_DATA_DIR": str(tmp)}
    log = open(tmp / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "rollback_advisor.web.serve_main",
                             "--config", str(config), "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers)],
                            env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit((tmp / "server.log").read_text()[-3000:])
            try:
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:  # never measure a server that is not up (e.g. still migrating a big store)
            raise SystemExit("the server did not answer /healthz within a minute:\n"
                             + (tmp / "server.log").read_text()[-3000:])
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()


def worker_memory(master: int) -> list[dict[str, int]]:
    """Each worker's (each child of gunicorn's master) peak and current resident memory in
    KiB, from /proc/<pid>/status (VmHWM, VmRSS): Linux only."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    out = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        out.append({"pid": int(pid), "hwm_kib": int(fields["VmHWM"].split()[0]),
                    "rss_kib": int(fields["VmRSS"].split()[0])})
    return out


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children (its workers): Linux only."""
    return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far (/proc/<pid>/stat): Linux only."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def local_tcp_ports(pids: list[int]) -> set[int]:
    """Local ports of the processes' TCP sockets (their fds' inodes in /proc/net/tcp)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def postgres_backends(url: str, pids: list[int]) -> list[int]:
    """The PostgreSQL server processes serving the given client processes' connections (same
    machine): their CPU is the database's share of a request."""
    from sqlalchemy import create_engine, text

    ports = sorted(local_tcp_ports(pids))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE client_port = ANY(:ports)"),
                {"ports": ports})]
    finally:
        engine.dispose()


def drive(requests_: list[Callable[[requests.Session], None]], clients: int
          ) -> tuple[float, list[float]]:
    """Run the callables from ``clients`` threads; return wall seconds and per-call ms."""
    latencies: list[float] = []
    lock = threading.Lock()

    def run(part: list[Callable[[requests.Session], None]]) -> None:
        with requests.Session() as session:
            mine = []
            for call in part:
                t0 = time.perf_counter()
                call(session)
                mine.append((time.perf_counter() - t0) * 1000)
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(requests_[k::clients],))
               for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def scratch_database(url: str, keep: str | None = None) -> tuple[str, Callable[[], None]]:
    """The URL a benchmark stores into, and what to call when it is done.

    SQLite: ``url`` itself and nothing to undo. PostgreSQL: a schema of its own (through
    ``search_path``), so a run never mixes with earlier data, dropped by the returned call;
    with ``keep``, the schema of that name, created when missing and left in place.
    """
    if not url.startswith("postgresql"):
        return url, lambda: None
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = keep or f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA {"IF NOT EXISTS " if keep else ""}"{schema}"'))

    def drop() -> None:
        if not keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return make_url(url).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False), drop
