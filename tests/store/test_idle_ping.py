"""A pooled connection is checked before use only when it sat idle past PING_AFTER_IDLE (the
hook path's round trip per delivery, issue 11); one the server dropped meanwhile is replaced, so
the next caller does not see the failure."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import rollback_advisor.store as store_module
from rollback_advisor.store import open_store


def _backend_pid(store: store_module.Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.postgres
def test_an_idle_connection_the_server_dropped_is_replaced(postgres_url: str,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    store = open_store(postgres_url)
    other = open_store(postgres_url)
    try:
        first = _backend_pid(store)  # now pooled
        with other.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            conn.commit()
        monkeypatch.setattr(store_module, "PING_AFTER_IDLE", 0.0)  # it has been idle "long"
        assert store.count_changes() == 0  # the dead connection was pinged and replaced
        assert _backend_pid(store) != first
    finally:
        store.close()
        other.close()


@pytest.mark.postgres
def test_a_connection_used_a_moment_ago_is_not_pinged(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        _backend_pid(store)
        pings: list[int] = []
        real = store.engine.dialect.do_ping
        store.engine.dialect.do_ping = lambda c: pings.append(1) or real(c)  # type: ignore
        for _ in range(5):
            store.count_changes()
        assert pings == []
    finally:
        store.close()
