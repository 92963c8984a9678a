"""The lines of an ``import`` file as prepared rows or rejections, in order (issue 11).

Preparing a line (store/prepared.py) is most of an import's CPU besides the database's own
work, and the two need not wait for each other: for a large file one worker process prepares
the next blocks of lines while this one writes, so a write to SQLite (sqlite3 holds the GIL
between rows, so a thread would not do) or a wait on PostgreSQL overlaps with the parsing.
The blocks come back in file order and the answers are the ones the serial path gives, the
same rows and the same rejection messages with the same line numbers.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Any

from ..errors import InvalidInput
from .prepared import Prepared, prepare

Answer = tuple[int, Prepared | str]
"""A line's number and its prepared row, or why it was rejected."""

BLOCK = 2000  # lines a worker prepares at a time
AHEAD = 4  # blocks prepared ahead of the writer: bounded memory
PARALLEL_FROM = 8 * 2**20  # bytes: a smaller file is done before a worker would start


def answer(number: int, line: bytes) -> Answer | None:
    """One line's answer (None for a blank line), as ``import`` reports it."""
    if not line.strip():
        return None
    try:
        return number, prepare(line)
    except InvalidInput as exc:
        return number, exc.message
    except (ValueError, UnicodeDecodeError) as exc:
        return number, f"not JSON: {exc}"


_Sent = tuple[int, str] | tuple[int, tuple[Any, ...], tuple[str, ...]]


def _answers(first: int, lines: list[bytes]) -> list[_Sent]:
    """A worker's answers for ``lines`` (numbered from ``first``): plain tuples, the row
    without its source line, which the reader still has (pickling them costs a fraction of
    preparing them)."""
    out: list[_Sent] = []
    for number, line in enumerate(lines, start=first):
        found = answer(number, line)
        if found is not None:
            what = found[1]
            out.append((number, what) if isinstance(what, str)
                       else (number, what.row, what.services))
    return out


def read_lines(lines: Iterable[bytes], *, parallel: bool,
               progress: Callable[[int], None] = lambda _: None) -> Iterator[Answer]:
    """The answers of ``lines`` (numbered from 1) in order; ``parallel``: prepared in a
    worker process, a few blocks ahead. ``progress`` gets the bytes of each line read."""
    if not parallel or "fork" not in multiprocessing.get_all_start_methods():
        # serial where a worker cannot be forked (Windows): the same answers, one core
        for number, line in enumerate(lines, start=1):
            progress(len(line))
            found = answer(number, line)
            if found is not None:
                yield found
        return
    source = iter(lines)
    pending: deque[tuple[int, list[bytes], Future[list[_Sent]]]] = deque()
    number = 1
    # fork: the worker needs nothing but this module, already imported
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        try:
            while True:
                while len(pending) < AHEAD:
                    block = list(islice(source, BLOCK))
                    if not block:
                        break
                    progress(sum(map(len, block)))
                    pending.append((number, block, pool.submit(_answers, number, block)))
                    number += len(block)
                if not pending:
                    return
                first, block, future = pending.popleft()
                for sent in future.result():
                    if len(sent) == 2:
                        yield sent  # type: ignore[misc]
                    else:
                        at, row, services = sent  # type: ignore[misc]
                        yield at, Prepared(row, services, block[at - first])
        finally:
            for _, _, future in pending:
                future.cancel()


__all__ = ["AHEAD", "BLOCK", "PARALLEL_FROM", "Answer", "answer", "read_lines"]
