"""Hand-built changes and graphs for core tests (no store, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rollback_advisor.models import Change, change_from_dict

ONSET = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)

CHAIN = {"services": {
    "web": {"endpoints": {"GET /x": {"depends_on": ["a"]}}, "depends_on": ["a", "side"]},
    "a": {"depends_on": ["b"]}, "b": {"depends_on": ["c"]}, "c": {"depends_on": ["d"]},
    "d": {}, "side": {}, "lonely": {}, "caller": {"depends_on": ["web"]},
    "mesh": {"type": "infrastructure"},
}}


def make_change(**overrides: Any) -> Change:
    """A deploy of `a` 10 minutes before ONSET, with any field overridden."""
    minutes = overrides.pop("minutes_before", 10)
    data: dict[str, Any] = {"id": "c1", "kind": "deploy", "service": "a",
                            "at": (ONSET - timedelta(minutes=minutes)).isoformat(),
                            "version": "v2", "previous_version": "v1"}
    if "services" in overrides:
        data.pop("service")
    data.update(overrides)
    return change_from_dict(data)
