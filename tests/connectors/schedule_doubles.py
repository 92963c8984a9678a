"""A connector for the scheduler tests: counts its fetches (per section name, across threads)
and can be held mid-sync, as a vendor that is slow or a process about to be killed."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from connectors import ConnectorContext
from connectors.base import Batch, Cursor, Progress
from connectors.vcs.common import Section
from rollback_advisor.models import change_from_dict

FETCHES: Counter[str] = Counter()
GATES: dict[str, threading.Event] = {}  # name -> released when set
ENTERED: dict[str, threading.Event] = {}  # name -> set once a fetch is under way
_LOCK = threading.Lock()


def reset() -> None:
    FETCHES.clear()
    GATES.clear()
    ENTERED.clear()


class TickingSource:
    """Each fetch yields one new deploy of ``service`` (cursor ``n``), after waiting on its
    gate when one is set."""

    def __init__(self, name: str, service: str) -> None:
        self.name, self.service = name, service

    @classmethod
    def from_config(cls, section: Mapping[str, Any], context: ConnectorContext, *,
                    name: str) -> TickingSource:
        s = Section(name, section, ("service",))
        return cls(name, s.text("service") or "svc")

    def fetch(self, cursor: Cursor | None, progress: Progress) -> Iterator[Batch]:
        with _LOCK:
            FETCHES[self.name] += 1
        entered = ENTERED.get(self.name)
        if entered is not None:
            entered.set()
        gate = GATES.get(self.name)
        if gate is not None:
            gate.wait(30)
        n = int((cursor or {}).get("n", 0)) + 1
        yield Batch([change_from_dict({"id": f"{self.name}:{n}", "kind": "deploy",
                                       "service": self.service,
                                       "at": "2026-11-20T10:00:00Z"})], {"n": n})
