"""One SQLite writer at a time across the processes of a host, waited for without blocking.

SQLite allows one writer; a second one waits in SQLite's busy handler, which sleeps in C. In
a gevent worker (``serve``) that sleep stops every greenlet of the worker: one waiting for a
writer of its own process could not let that writer finish, and stalled until busy_timeout;
one waiting for another worker stalled every request of its worker meanwhile (hook p99 on
SQLite reached 300-800 ms). Writers take this lock instead: a thread lock among the process's
threads (gevent-aware once gevent has patched ``threading``), then an exclusive ``flock`` on
``<database>-writelock`` across processes, polled with ``time.sleep`` (which a gevent worker
turns into a yield) rather than a blocking call. PostgreSQL needs none.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

_MAX_POLL = 0.002  # seconds between tries, at most: a delivery's transaction takes ~1 ms


class NoLock:
    """PostgreSQL: its writers do not wait for each other's whole transactions."""

    def acquire(self, blocking: bool = True) -> bool:
        return True

    def release(self) -> None:
        return None


class SQLiteWriteLock:
    """See the module docstring; ``path`` None (an in-memory database) locks the process only."""

    def __init__(self, path: Path | None) -> None:
        self._threads = threading.Lock()
        self._path = Path(f"{path}-writelock") if path is not None else None
        self._fd: int | None = None
        self._pid = 0

    def acquire(self, blocking: bool = True) -> bool:
        if not self._threads.acquire(blocking):
            return False
        if self._path is None:
            return True
        fd = self._file()
        delay = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if not blocking:
                    self._threads.release()
                    return False
                time.sleep(delay)
                delay = min(delay * 2, _MAX_POLL)
            except BaseException:
                self._threads.release()
                raise

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int:
        # One descriptor per process: after a fork the child opens its own, since flock
        # locks belong to the open file, which a forked child would share.
        if self._fd is None or self._pid != os.getpid():
            assert self._path is not None
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd


def write_lock(dialect: str, database: str | None) -> SQLiteWriteLock | NoLock:
    """The lock a store's writers take: per database file for SQLite, none for PostgreSQL."""
    if dialect != "sqlite":
        return NoLock()
    in_memory = database in (None, "", ":memory:")
    return SQLiteWriteLock(None if in_memory else Path(str(database)).expanduser())
