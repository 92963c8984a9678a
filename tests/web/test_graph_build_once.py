"""A worker builds the graph once however many requests arrive before it is built: the first
requests after a start wait for that build instead of each building a copy (issue 11: peak
memory of a serve worker)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask

from rollback_advisor.advisor import Advisor
from rollback_advisor.web.services import EXTENSION


def test_concurrent_first_requests_build_one_graph(app: Flask,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    svc = app.extensions[EXTENSION]
    svc.store.save_graph({"services": {"a": {"depends_on": ["b"]}, "b": {}}})
    svc.freeze_heap = True  # as in a serve worker: the graph is built with the advisor
    monkeypatch.setattr("rollback_advisor.web.services._freeze_heap", lambda: None)
    builds: list[int] = []
    real = Advisor.graph

    def slow_graph(self: Advisor) -> Any:
        if self._graph is None:
            builds.append(1)
            time.sleep(0.2)  # long enough for every thread to arrive meanwhile
        return real(self)

    monkeypatch.setattr(Advisor, "graph", slow_graph)
    got: list[Advisor] = []
    threads = [threading.Thread(target=lambda: got.append(svc.advisor())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert len({id(a) for a in got}) == 1
