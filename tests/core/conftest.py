"""Fixtures over the factories in factories.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rollback_advisor.graph import DependencyGraph
from rollback_advisor.models import Change, Incident

from .factories import CHAIN, ONSET, make_change


@pytest.fixture
def change() -> Callable[..., Change]:
    return make_change


@pytest.fixture
def chain() -> DependencyGraph:
    return DependencyGraph.from_document(CHAIN)


@pytest.fixture
def incident() -> Incident:
    return Incident(target="web:GET /x", started_at=ONSET)
