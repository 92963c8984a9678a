"""PagerDuty v3 webhooks about incidents (``incident.triggered``, ``.resolved``, ...).

Upstream: PagerDuty developer docs, Webhooks v3 ("Overview", "Verifying Signatures") and the
official Go client's ``webhookv3`` package. Each delivery is one event
``{"event": {id, event_type, resource_type, occurred_at, data: <incident>}}``; the signature
header is ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>``, several comma-separated
during a secret rotation (any one matching is enough). ``Authorization: Bearer <secret>`` (a
custom header of the webhook subscription) authenticates as well.

One PagerDuty incident is one incident here and its single alert: ``incident.resolved`` (or
``data.status: resolved``) resolves it, every other incident event keeps it firing. The alert's
labels are ``service`` (``data.service.summary``), ``service_id``, ``urgency``, ``priority``
and ``incident_key``: map a PagerDuty service to a graph node with ``--map "API Service=api"``.
The onset is ``data.created_at``, else the event's ``occurred_at``. Events about other resources
(``service.updated``, ``pagey.ping``) are acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollback_advisor.alerts import AlertBatch
from rollback_advisor.errors import InvalidInput

from .alerting import make_alert
from .base import (
    HookContext,
    Parsed,
    as_object,
    bearer,
    decode_json,
    guarded,
    header,
    ident,
    opt_object,
    parse_vendor_time,
    same_secret,
    text,
    verify_prefixed_hmac,
)


class PagerDutyIncidentsParser:
    """PagerDuty v3 incident webhooks, signed with ``X-PagerDuty-Signature``."""

    name = "pagerduty-incidents"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        value = header(headers, "X-PagerDuty-Signature") or ""
        if any(verify_prefixed_hmac(part.strip(), body, secret, "v1=")
               for part in value.split(",")):
            return True
        return same_secret(bearer(headers), secret)

    def parse(self, headers: Mapping[str, str], body: bytes, context: HookContext) -> Parsed:
        payload = decode_json(body)
        data = as_object(payload, "body")
        event = as_object(data.get("event"), "event")
        event_type = text(event, "event_type") or "unknown"
        key = text(event, "id") or header(headers, "X-Webhook-Id")
        if text(event, "resource_type") != "incident":
            return Parsed([], event_type, key, raw=payload, ignored=(
                f"PagerDuty event {event_type} is not about an incident"))
        batch = guarded("PagerDuty", lambda: _batch(event, event_type, context))
        return Parsed([], event_type, key, raw=payload, alerts=batch)


def _batch(event: Mapping[str, Any], event_type: str, context: HookContext) -> AlertBatch:
    incident = as_object(event.get("data"), "event.data")
    incident_id = ident(incident, "id", "event.data.id")
    assert incident_id is not None
    service = opt_object(incident, "service", "event.data.service")
    priority = opt_object(incident, "priority", "event.data.priority")
    when = incident.get("created_at") or event.get("occurred_at")
    if when is None:
        raise InvalidInput("event.occurred_at", None, "when the event occurred")
    labels = {k: v for k, v in {
        "service": text(service, "summary"), "service_id": text(service, "id"),
        "urgency": text(incident, "urgency"), "priority": text(priority, "summary"),
        "incident_key": text(incident, "incident_key")}.items() if v}
    resolved = (event_type == "incident.resolved"
                or (text(incident, "status") or "").lower() == "resolved")
    title = text(incident, "title") or f"PagerDuty incident {incident_id}"
    alert = make_alert(context, key=incident_id, firing=not resolved,
                       starts_at=parse_vendor_time(when, "event.data.created_at"),
                       name=title, labels=labels, summary=title,
                       url=text(incident, "html_url"))
    return AlertBatch(source=PagerDutyIncidentsParser.name, group=incident_id,
                      alerts=(alert,), title=title, url=text(incident, "html_url"))
