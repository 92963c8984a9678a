"""The engine's candidate columns of a stored change, shared by the store and migration 0003."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine import is_destructive
from ..models import change_from_dict

SERVICE_SEPARATOR = "\x1f"  # ASCII unit separator: never part of a node name
# The window query's columns, equality and range first: an index over all of them covers it.
WINDOW_INDEX = ("environment", "at_us", "start_us", "id", "kind", "status", "services",
                "rollout_pct", "destructive")


def candidate_columns(doc: Mapping[str, Any]) -> dict[str, Any]:
    """services, rollout_pct and destructive for a DESIGN §1 document."""
    change = change_from_dict(doc)
    pct = change.details.get("rollout_percentage")
    return {"services": SERVICE_SEPARATOR.join(change.services),
            "rollout_pct": float(pct) if isinstance(pct, int | float) else None,
            "destructive": is_destructive(change)}
