"""PagerDuty Events API v2 change events, posted to our hook instead of (or as well as) PagerDuty.

Upstream: PagerDuty Events API v2, "Send Change Events"
(https://developer.pagerduty.com/docs/events-api-v2/send-change-events/ and the OpenAPI
document in PagerDuty/api-schema ``reference/events-v2/openapiv3.json``) and, for the optional
``X-PagerDuty-Signature`` scheme, "Verifying Signatures" of PagerDuty webhooks v3
(https://developer.pagerduty.com/docs/webhooks/webhook-signatures/).

Mapping: ``payload.summary`` -> summary, ``payload.timestamp`` -> at, ``links[0].href`` -> url.
``custom_details`` may refine the change with DESIGN §1 words: ``kind`` (default deploy),
``service``, ``environment``, ``version``, ``previous_version``, ``author``, ``status`` (or
``build_state``: passed/success -> succeeded, failed/error -> failed, running -> in_progress),
``reversible``. The service is the mapping of custom_details.service or payload.source, else that
name itself. Change events carry no id, so the id is ``pagerduty:`` + a hash of the event
(without the routing key), stable across redelivery. Alert events (``event_action``) and
webhook v3 incident events are acknowledged and ignored: they are not changes.

The stored raw payload is the event without ``routing_key`` (the integration key that lets
anyone send events to the PagerDuty service): re-parsing it gives the same change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change, ChangeKind

from .base import (
    HookContext,
    Parsed,
    as_object,
    build_change,
    canonical_json,
    content_hash,
    decode_json,
    effective_environment,
    environment_filtered,
    guarded,
    header,
    map_service,
    opt_object,
    parse_vendor_time,
    text,
    verify_own_signature,
    verify_prefixed_hmac,
)

_STATUS = {"passed": "succeeded", "success": "succeeded", "succeeded": "succeeded",
           "successful": "succeeded", "failed": "failed", "failure": "failed", "error": "failed",
           "errored": "failed", "running": "in_progress", "in_progress": "in_progress",
           "started": "in_progress"}


class PagerDutyParser:
    """Change events signed with our header or PagerDuty's ``X-PagerDuty-Signature``."""

    name = "pagerduty"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Accept ``X-Rollback-Advisor-Signature`` or any ``v1=<hex>`` of X-PagerDuty-Signature."""
        if verify_own_signature(headers, body, secret):
            return True
        value = header(headers, "X-PagerDuty-Signature") or ""
        return any(verify_prefixed_hmac(part.strip(), body, secret, "v1=")
                   for part in value.split(","))

    def parse(self, headers: Mapping[str, str], body: bytes, context: HookContext) -> Parsed:
        """Normalise one change event (see the module docstring)."""
        payload = decode_json(body)
        data = as_object(payload, "body")
        event = data.get("event")
        if isinstance(event, Mapping):
            event_type = text(event, "event_type") or "unknown"
            return Parsed([], f"webhook {event_type}", text(event, "id") or content_hash(data),
                          ignored=f"PagerDuty webhook event {event_type} is not a change event",
                          raw=payload)
        identity = {k: data.get(k) for k in ("payload", "links")}
        key = content_hash(identity)
        kept = {k: v for k, v in data.items() if k != "routing_key"}
        stored = None if len(kept) == len(data) else canonical_json(kept).encode(
            "utf-8", "surrogatepass")
        if "event_action" in data:
            return Parsed([], "alert event", text(data, "dedup_key") or key, ignored=(
                f"PagerDuty alert event (event_action {data.get('event_action')}) is not a "
                "change event"), raw=kept, stored_body=stored)
        change = guarded("PagerDuty", lambda: _change(data, context, key))
        reason = environment_filtered(context, change.environment)
        return Parsed([] if reason else [change], "change_event", key, ignored=reason,
                      raw=kept, stored_body=stored)


def _change(data: Mapping[str, Any], context: HookContext, key: str) -> Change:
    body = data.get("payload")
    if body is None:
        raise InvalidInput("payload", None, "the change event's payload object (summary, "
                           "timestamp, source, custom_details)")
    body = as_object(body, "payload")
    summary = text(body, "summary")
    if summary is None:
        raise InvalidInput("payload.summary", body.get("summary"), "a summary of the change")
    if body.get("timestamp") is None:
        raise InvalidInput("payload.timestamp", None, "the time of the change (a timestamp with "
                           "an offset); it is not guessed from the delivery time")
    at = parse_vendor_time(body.get("timestamp"), "payload.timestamp")
    details = opt_object(body, "custom_details", "payload.custom_details")
    source = text(body, "source")
    named = text(details, "service")
    service = (map_service(context.mapping, named, source) if named
               else map_service(context.mapping, source)) or named or source
    if service is None:
        raise InvalidInput("payload.source", None, "the service the change applies to "
                           "(payload.source or custom_details.service)")
    kind_value = text(details, "kind") or ChangeKind.DEPLOY.value
    raw_status = text(details, "status") or text(details, "build_state")
    status = _STATUS.get((raw_status or "").lower(), "succeeded")
    reversible = details.get("reversible")
    links = data.get("links")
    url = None
    if isinstance(links, list):
        url = next((text(link, "href") for link in links
                    if isinstance(link, Mapping) and text(link, "href")), None)
    environment = effective_environment(context, text(details, "environment"))
    return build_change({
        "id": f"pagerduty:{key[:16]}", "kind": kind_value, "service": service,
        "environment": environment, "at": at, "version": text(details, "version"),
        "previous_version": text(details, "previous_version"), "status": status,
        "reversible": reversible if isinstance(reversible, bool) else None,
        "summary": summary, "author": text(details, "author"), "url": url,
        "source": "pagerduty",
        "details": {k: v for k, v in {
            "hook_id": context.hook_id, "pagerduty_source": source,
            "custom_details": dict(details) or None,
            "links": links if isinstance(links, list) and links else None}.items()
            if v is not None}})
