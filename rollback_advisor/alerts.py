"""Alerts as every alert source reports them, and how their labels name graph nodes (DESIGN §7).

The alert parsers (``connectors/hooks/alertmanager.py``, ``grafana.py``,
``pagerduty_incidents.py``) turn one delivery into an ``AlertBatch``: one alert group (the
incident to open or update) and its alerts, each with its own key, status and onset. Reading a
node, an endpoint, a scope and an environment out of the labels is the same for every source,
so it lives here, with the per-hook overrides (``LabelMapping``). Pure: no I/O, no clock.

Defaults: the node is label ``service``, else ``job``; an endpoint comes from ``endpoint``,
``route`` or ``handler``; the environment from ``environment`` or ``env``; the scope labels are
``region``, ``zone``, ``cluster``, ``cell``, ``namespace``, ``datacenter`` (or ``dc``), ``site``
and ``host``, each read from the label of the same name. A hook overrides any of them with
``FIELD=LABEL[,LABEL...]`` (``service=app``, ``scope.region=aws_region``); an empty list
(``scope.host=``) turns that field off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import InvalidInput, NotFound
from .graph import DependencyGraph
from .models import Scope, check_text, scope_from_dict

FIELDS = ("service", "endpoint", "environment")
SCOPE_PREFIX = "scope."
DEFAULT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "service": ("service", "job"),
    "endpoint": ("endpoint", "route", "handler"),
    "environment": ("environment", "env"),
}
DEFAULT_SCOPE: Mapping[str, tuple[str, ...]] = {
    "region": ("region",), "zone": ("zone",), "cluster": ("cluster",), "cell": ("cell",),
    "namespace": ("namespace",), "datacenter": ("datacenter", "dc"), "site": ("site",),
    "host": ("host",),
}
_OVERRIDE_FORM = ("FIELD=LABEL[,LABEL...], FIELD one of service, endpoint, environment or "
                  "scope.<label> (e.g. service=app, scope.region=aws_region)")


@dataclass(frozen=True)
class LabelMapping:
    """Which alert labels give the node, endpoint, environment and each scope label."""

    fields: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    scope: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_SCOPE))

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, str] | None) -> LabelMapping:
        """The defaults with a hook's overrides applied (see ``parse_overrides``)."""
        fields = dict(DEFAULT_FIELDS)
        scope = dict(DEFAULT_SCOPE)
        for key, value in (overrides or {}).items():
            labels = tuple(v.strip() for v in value.split(",") if v.strip())
            if key.startswith(SCOPE_PREFIX):
                scope[key[len(SCOPE_PREFIX):]] = labels
            else:
                fields[key] = labels
        return cls({k: v for k, v in fields.items()},
                   {k: v for k, v in scope.items() if v})

    def read(self, labels: Mapping[str, str]) -> dict[str, Any]:
        """``service``, ``endpoint``, ``environment`` (each the first label present, or None)
        and ``scope`` (label -> values, None when no scope label is present)."""
        out: dict[str, Any] = {name: _first(labels, self.fields.get(name, ()))
                               for name in FIELDS}
        where = {label: [v] for label, names in self.scope.items()
                 if (v := _first(labels, names)) is not None}
        out["scope"] = scope_from_dict(where) if where else None
        return out


def parse_overrides(items: Mapping[str, str] | Iterable[str], field_name: str = "labels"
                    ) -> dict[str, str]:
    """Validate ``FIELD=LABEL[,LABEL...]`` overrides (a list of texts, or an object)."""
    pairs: list[tuple[str, str]] = []
    if isinstance(items, Mapping):
        for key, value in items.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidInput(field_name, items, "an object of FIELD -> LABEL[,LABEL...]")
            pairs.append((key, value))
    else:
        for text in items:
            key, sep, value = text.partition("=") if isinstance(text, str) else ("", "", "")
            if not sep:
                raise InvalidInput(field_name, text, _OVERRIDE_FORM)
            pairs.append((key, value))
    out: dict[str, str] = {}
    for key, value in pairs:
        key = key.strip()
        scope_label = key[len(SCOPE_PREFIX):] if key.startswith(SCOPE_PREFIX) else None
        if key not in FIELDS and not (scope_label and scope_label.strip()):
            raise InvalidInput(field_name, key, _OVERRIDE_FORM)
        check_text(key, field_name, 128)
        check_text(value, f"{field_name}.{key}", 512)
        out[key] = ",".join(v.strip() for v in value.split(",") if v.strip())
    return out


def _first(labels: Mapping[str, str], names: Iterable[str]) -> str | None:
    for name in names:
        value = labels.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True)
class Alert:
    """One alert of a group: its key (fingerprint, id) is unique within the group."""

    key: str
    firing: bool
    starts_at: datetime
    name: str
    service: str | None = None  # the node as the labels (and the hook's --map) name it
    endpoint: str | None = None
    environment: str | None = None
    scope: Scope | None = None
    ends_at: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    summary: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "status": "firing" if self.firing else "resolved",
                "name": self.name, "starts_at": self.starts_at.isoformat(),
                "ends_at": self.ends_at.isoformat() if self.ends_at else None,
                "service": self.service, "endpoint": self.endpoint,
                "environment": self.environment,
                "scope": {k: list(v) for k, v in (self.scope or {}).items()} or None,
                "labels": dict(self.labels), "summary": self.summary, "url": self.url}


@dataclass(frozen=True)
class AlertBatch:
    """One delivery of an alert source: the group (one incident) and the alerts it reports."""

    source: str
    group: str
    alerts: tuple[Alert, ...]
    title: str | None = None
    url: str | None = None


def alert_node(graph: DependencyGraph | None, alert: Alert) -> tuple[str | None, bool]:
    """The graph node an alert names, and whether the graph knows it.

    An endpoint counts as ``service:endpoint`` when the graph has that node (or the endpoint's
    own name, when unique); else the service. An alert naming nothing the graph knows keeps the
    name it gave (flagged unknown), so it is never dropped.
    """
    names = []
    if alert.endpoint:  # an endpoint of another service is never meant: name it with its own
        names.append(f"{alert.service}:{alert.endpoint}" if alert.service else alert.endpoint)
    if alert.service:
        names.append(alert.service)
    if graph is not None:
        for name in names:
            try:
                return graph.resolve(name), True
            except NotFound:
                continue
    return (alert.service or alert.endpoint), False
