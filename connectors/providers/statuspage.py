"""Atlassian Statuspage public API v2 (``summary.json``, ``incidents.json``) to provider changes.

Upstream: https://metastatuspage.com/api/v2/ (the public, unauthenticated page API every
Statuspage page serves, e.g. https://www.githubstatus.com/api/v2/).

Pure functions: JSON documents in, changes out; the HTTP side lives in ``connectors.providers``.
What becomes a change (all ``kind: provider``, ``reversible: false``: we cannot undo a
provider's change, only work around it):

- each incident, once: id ``<feed>:incident:<incident id>``, ``at`` = the incident's
  ``started_at`` (operators may backdate it to the real start; else ``created_at``), on the
  nodes its affected components map to (``components:``), else the provider's ``node``;
  ``details.impact``, the incident status as seen, the update trail; ``url`` = shortlink.
- each *worsening* component transition in an incident update (``operational ->
  partial_outage``): id ``<feed>:component:<update id>:<component code>``, ``at`` = the update's
  ``created_at``, on that component's node. Recoveries and status-only updates
  (investigating -> monitoring) are not changes: they undo or describe, they do not break.
- a component degraded in ``summary.json`` that no incident explains (a silent status flip):
  id ``<feed>:component:<component id>:<updated_at>``, ``at`` = its ``updated_at``.
- a scheduled maintenance that has started: id ``<feed>:maintenance:<id>``, ``at`` = its
  ``started_at`` (else ``scheduled_for``).

An incident change is written when first seen and, ids being idempotent, not rewritten later:
its ``details.status`` is the status at that sync, not necessarily the final one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change, ChangeKind
from rollback_advisor.timeutil import parse_rfc3339

from ._config import FeedConfig

# Worse is higher; unknown statuses rank as a partial outage (erring towards "it broke").
SEVERITY = {"operational": 0, "under_maintenance": 1, "degraded_performance": 2,
            "partial_outage": 3, "major_outage": 4}
_STARTED_MAINTENANCE = {"in_progress", "verifying", "completed"}


class ShapeError(ValueError):
    """The document is JSON but not the Statuspage shape."""


def incident_changes(doc: Any, feed: FeedConfig) -> list[Change]:
    """Changes from an ``incidents.json`` (or ``summary.json``) document."""
    incidents = _list(doc, "incidents")
    page = _page_name(doc, feed)
    out: list[Change] = []
    for incident in incidents:
        if not isinstance(incident, Mapping) or not incident.get("id"):
            continue
        out.extend(_from_incident(incident, page, feed))
    return out


def summary_changes(doc: Any, feed: FeedConfig,
                    explained: set[str]) -> tuple[list[Change], dict[str, str]]:
    """Silent component degradations and started maintenances from ``summary.json``.

    ``explained`` holds component names an incident already covers. Returns the changes and
    every component's status (the cursor keeps it so a flip is seen once).
    """
    page = _page_name(doc, feed)
    statuses: dict[str, str] = {}
    out: list[Change] = []
    for comp in _list(doc, "components"):
        if not isinstance(comp, Mapping) or comp.get("group") or not comp.get("id"):
            continue
        status = str(comp.get("status") or "")
        statuses[str(comp["id"])] = status
        if _severity(status) == 0 or comp.get("name") in explained:
            continue
        at = _time(comp.get("updated_at"), "components[].updated_at")
        if at is None:
            continue
        name = str(comp.get("name"))
        out.append(_change(
            feed, f"component:{comp['id']}:{comp.get('updated_at')}", at, (name,),
            f"{page} {name}: {status.replace('_', ' ')}",
            {"component": name, "new_status": status, "explained_by_incident": False}))
    for mnt in _list(doc, "scheduled_maintenances", required=False):
        if not isinstance(mnt, Mapping) or mnt.get("status") not in _STARTED_MAINTENANCE:
            continue
        at = _time(mnt.get("started_at") or mnt.get("scheduled_for"), "maintenance start")
        if at is None:
            continue
        names = tuple(str(c.get("name")) for c in mnt.get("components") or []
                      if isinstance(c, Mapping))
        out.append(_change(
            feed, f"maintenance:{mnt.get('id')}", at, names,
            f"{page} maintenance: {mnt.get('name')}",
            {"maintenance_id": mnt.get("id"), "status": mnt.get("status"),
             "impact": mnt.get("impact"), "scheduled_until": mnt.get("scheduled_until")},
            url=mnt.get("shortlink")))
    return out, statuses


def affected_names(doc: Any) -> set[str]:
    """Names of every component an incident in ``doc`` lists as affected."""
    names: set[str] = set()
    for incident in _list(doc, "incidents", required=False):
        if isinstance(incident, Mapping):
            names.update(_affected(incident))
            names.update(str(c.get("name")) for c in incident.get("components") or []
                         if isinstance(c, Mapping))
    return names


def _from_incident(incident: Mapping[str, Any], page: str, feed: FeedConfig) -> list[Change]:
    out: list[Change] = []
    start = _time(incident.get("started_at") or incident.get("created_at"),
                  "incidents[].started_at")
    updates = sorted((u for u in incident.get("incident_updates") or []
                      if isinstance(u, Mapping)), key=lambda u: str(u.get("created_at")))
    impact = incident.get("impact")
    if start is not None:
        components = sorted(_affected(incident) | {
            str(c.get("name")) for c in incident.get("components") or []
            if isinstance(c, Mapping)})
        out.append(_change(
            feed, f"incident:{incident['id']}", start, tuple(components),
            f"{page} incident: {incident.get('name')} ({impact or 'no'} impact)",
            {"incident_id": incident["id"], "impact": impact, "status": incident.get("status"),
             "components": components, "resolved_at": incident.get("resolved_at"),
             "updates": [{"status": u.get("status"), "at": u.get("created_at"),
                          "body": str(u.get("body") or "")[:280]} for u in updates]},
            url=incident.get("shortlink")))
    for update in updates:
        at = _time(update.get("created_at"), "incident_updates[].created_at")
        for comp in update.get("affected_components") or []:
            if not isinstance(comp, Mapping) or at is None:
                continue
            old, new = str(comp.get("old_status")), str(comp.get("new_status"))
            if _severity(new) <= _severity(old):
                continue
            name = str(comp.get("name"))
            out.append(_change(
                feed, f"component:{update.get('id')}:{comp.get('code')}", at, (name,),
                f"{page} {name}: {old.replace('_', ' ')} -> {new.replace('_', ' ')} "
                f"({incident.get('name')})",
                {"component": name, "old_status": old, "new_status": new, "impact": impact,
                 "incident_id": incident["id"], "update_status": update.get("status"),
                 "body": str(update.get("body") or "")[:500]},
                url=incident.get("shortlink")))
    return out


def _change(feed: FeedConfig, external: str, at: datetime, components: tuple[str, ...],
            summary: str, details: dict[str, Any], url: Any = None) -> Change:
    nodes = tuple(dict.fromkeys(feed.components[c] for c in components if c in feed.components))
    return Change(
        id=f"{feed.name}:{external}", kind=ChangeKind.PROVIDER, services=nodes or (feed.node,),
        at=at, environment=feed.environment, reversible=False, summary=summary[:300],
        url=str(url) if url else None, source="statuspage",
        details={"provider": feed.node, **details})


def _affected(incident: Mapping[str, Any]) -> set[str]:
    return {str(c.get("name")) for u in incident.get("incident_updates") or []
            if isinstance(u, Mapping) for c in u.get("affected_components") or []
            if isinstance(c, Mapping)}


def _severity(status: str) -> int:
    return SEVERITY.get(status, 3)


def _time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value, field)
    except InvalidInput:
        return None


def _list(doc: Any, key: str, required: bool = True) -> list[Any]:
    if not isinstance(doc, Mapping):
        raise ShapeError("expected a JSON object")
    value = doc.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ShapeError(f"expected a list under {key!r}")
    return value


def _page_name(doc: Any, feed: FeedConfig) -> str:
    page = doc.get("page") if isinstance(doc, Mapping) else None
    return str(page.get("name")) if isinstance(page, Mapping) and page.get("name") else feed.name
