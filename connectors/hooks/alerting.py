"""What the alert parsers share: the Alertmanager-style envelope (Alertmanager and Grafana send
the same ``alerts[]`` shape) and the label mapping applied to each alert.

An alert names a node through its labels (``rollback_advisor.alerts.LabelMapping`` with the
hook's overrides), then through the hook's ``--map`` (``API Service=api``), as a deploy hook maps
a repository. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rollback_advisor.alerts import Alert, AlertBatch, LabelMapping
from rollback_advisor.errors import InvalidInput

from .base import (
    HookContext,
    Parsed,
    as_object,
    canonical_json,
    content_hash,
    guarded,
    ident,
    map_service,
    opt_object,
    parse_vendor_time,
    text,
)

ZERO_TIME = "0001-01-01"  # Go's zero time: Alertmanager's endsAt of a firing alert


def string_labels(value: Any, field_name: str) -> dict[str, str]:
    """A label set: an object of strings (numbers and booleans are written as text)."""
    if value is None:
        return {}
    labels = as_object(value, field_name)
    out: dict[str, str] = {}
    for key, item in labels.items():
        if isinstance(item, str):
            out[str(key)] = item
        elif isinstance(item, bool | int | float):
            out[str(key)] = canonical_json(item)
        elif item is not None:
            raise InvalidInput(f"{field_name}.{key}", item, "a label value (a string)")
    return out


def make_alert(context: HookContext, *, key: str, firing: bool, starts_at: datetime,
               name: str, labels: Mapping[str, str], ends_at: datetime | None = None,
               summary: str | None = None, url: str | None = None) -> Alert:
    """An alert with the node, endpoint, environment and scope its labels give."""
    read = LabelMapping.from_overrides(context.labels).read(labels)
    service = read["service"]
    if service is not None:
        service = map_service(context.mapping, service) or service
    return Alert(key=key, firing=firing, starts_at=starts_at, ends_at=ends_at, name=name,
                 service=service, endpoint=read["endpoint"],
                 environment=read["environment"] or context.environment,
                 scope=read["scope"], labels=dict(labels), summary=summary, url=url)


def envelope_alerts(data: Mapping[str, Any], context: HookContext) -> tuple[Alert, ...]:
    """The ``alerts[]`` of an Alertmanager (v4) or Grafana webhook body.

    An alert's status is its own ``status``, else the notification's; with neither, a zero or
    absent ``endsAt`` means firing. The key is its ``fingerprint``, else a digest of its labels
    (what Alertmanager's fingerprint is).
    """
    items = data.get("alerts")
    if not isinstance(items, list):
        raise InvalidInput("alerts", items, "a list of alerts")
    group_status = text(data, "status")
    out = []
    for index, raw in enumerate(items):
        where = f"alerts[{index}]"
        item = as_object(raw, where)
        labels = string_labels(item.get("labels"), f"{where}.labels")
        annotations = opt_object(item, "annotations", f"{where}.annotations")
        if item.get("startsAt") is None:
            raise InvalidInput(f"{where}.startsAt", None, "when the alert began firing")
        starts = parse_vendor_time(item.get("startsAt"), f"{where}.startsAt")
        ends_raw = item.get("endsAt")
        ends = (None if not ends_raw or str(ends_raw).startswith(ZERO_TIME)
                else parse_vendor_time(ends_raw, f"{where}.endsAt"))
        status = (text(item, "status") or group_status or
                  ("firing" if ends is None else "resolved")).lower()
        if status not in ("firing", "resolved"):
            raise InvalidInput(f"{where}.status", status, "firing or resolved")
        key = (ident(item, "fingerprint", f"{where}.fingerprint", required=False)
               or content_hash(labels)[:16])
        summary = (text(annotations, "summary") or text(annotations, "description")
                   or text(annotations, "message"))
        out.append(make_alert(context, key=key, firing=status == "firing", starts_at=starts,
                              ends_at=ends, name=labels.get("alertname") or "alert",
                              labels=labels, summary=summary,
                              url=text(item, "generatorURL")))
    return tuple(out)


def envelope_group(data: Mapping[str, Any]) -> str:
    """``groupKey`` (a string), else a digest of the receiver and the group labels: the group
    Alertmanager would have keyed."""
    key = data.get("groupKey")
    if key is None:
        return "derived:" + content_hash({"receiver": data.get("receiver"),
                                          "groupLabels": data.get("groupLabels")})[:32]
    if not isinstance(key, str) or not key:
        raise InvalidInput("groupKey", key, "a string (Alertmanager payload version 4); a "
                           "number is the old version 3 format: upgrade Alertmanager")
    return key


def envelope_title(data: Mapping[str, Any]) -> str | None:
    common = data.get("commonAnnotations")
    labels = data.get("commonLabels")
    return (text(data, "title")
            or (text(common, "summary") if isinstance(common, Mapping) else None)
            or (text(labels, "alertname") if isinstance(labels, Mapping) else None))


def envelope_parsed(payload: Any, data: Mapping[str, Any], context: HookContext, *,
                    source: str, vendor: str) -> Parsed:
    """An Alertmanager-style notification as a Parsed alert batch (ignored without alerts)."""
    group = envelope_group(data)
    alerts = guarded(vendor, lambda: envelope_alerts(data, context))
    event = f"alerts {text(data, 'status') or 'unknown'}"
    if not alerts:
        return Parsed([], event, None, ignored="the notification carries no alert", raw=payload)
    return Parsed([], event, None, raw=payload, alerts=AlertBatch(
        source=source, group=group, alerts=alerts, title=envelope_title(data),
        url=text(data, "externalURL")))
