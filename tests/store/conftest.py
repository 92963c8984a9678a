"""The store fixture shared by the store tests: SQLite in tmp_path, then PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rollback_advisor.store import Store, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(None, tmp_path / "data")
    else:
        s = open_store(request.getfixturevalue("postgres_url"))
    yield s
    s.close()
