"""The engine's candidate columns of a stored change, shared by the store and migration 0003."""

from __future__ import annotations

from typing import Any

from ..engine import candidate_of
from ..models import Change
from ..store_reads import SERVICE_SEPARATOR

# The window query's columns, equality and range first: an index over all of them covers it.
WINDOW_INDEX = ("environment", "at_us", "start_us", "id", "kind", "status", "services",
                "rollout_pct", "destructive", "scope", "source")


def candidate_columns(change: Change) -> dict[str, Any]:
    """services, rollout_pct, destructive and scope: what ``window_candidates`` reads of a
    change."""
    c = candidate_of(change)
    return {"services": SERVICE_SEPARATOR.join(c.services), "rollout_pct": c.rollout_percentage,
            "destructive": c.destructive, "scope": c.scope}
