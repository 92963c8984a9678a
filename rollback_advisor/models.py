"""The domain: change events (DESIGN §1), incidents, suspects and recommendations.

Frozen dataclasses rather than dicts so that every layer (store, engine, policy, web) agrees on
one shape, and a bad record is rejected once, at the edge, with a message naming the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .errors import InvalidInput
from .timeutil import format_utc, parse_rfc3339


class ChangeKind(StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"
    MIGRATION = "migration"
    CONFIG = "config"
    FEATURE_FLAG = "feature_flag"
    INFRASTRUCTURE = "infrastructure"
    PROVIDER = "provider"
    CERTIFICATE = "certificate"


class ChangeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"


class Decision(StrEnum):
    ROLLBACK = "rollback"
    FORWARD_FIX = "forward_fix"
    INVESTIGATE = "investigate"


GLOBAL = "*"
DEFAULT_ENVIRONMENT = "production"

Scope = Mapping[str, tuple[str, ...]]
"""Where something took effect or fails: label -> values (``{"region": ("us-east-1",)}``)."""

_FIELDS = {"id", "kind", "service", "services", "environment", "at", "started_at", "version",
           "previous_version", "status", "reversible", "scope", "summary", "author", "url",
           "source", "details"}
_TEXT_FIELDS = ("version", "previous_version", "summary", "author", "url", "source")

# Lengths the store's columns hold (store/schema.py), in characters: checked here so SQLite,
# which would store anything, and PostgreSQL, which would refuse with a server error, answer
# alike. docs/service.md lists them.
MAX_LENGTHS = {"id": 512, "service": 512, "environment": 128, "source": 128, "version": 256}
MAX_DETAILS_DEPTH = 32


def check_text(value: str, field: str, max_length: int | None = None) -> str:
    """``value`` if both stores can hold it: no NUL, no lone surrogate, not too long."""
    if "\x00" in value:
        raise InvalidInput(field, value, "text without NUL characters")
    try:
        if not value.isascii():  # ASCII holds no surrogate: most text, checked for free
            value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, value, "valid Unicode text (no lone surrogate such as "
                           "\\ud800)") from None
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(field, value, f"at most {max_length} characters")
    return value


def check_json(value: Any, field: str, depth: int = 0, root: str | None = None) -> None:
    """Refuse what JSON cannot carry back out: NaN and infinities (stored, they would be
    emitted as invalid JSON), bad text, other types, and nesting deeper than
    MAX_DETAILS_DEPTH (named by the outermost field: the path would be that long)."""
    root = root or field
    if depth > MAX_DETAILS_DEPTH:
        raise InvalidInput(root, "...", f"at most {MAX_DETAILS_DEPTH} levels of nesting")
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(field, value, "a finite number (JSON has no NaN or Infinity)")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(field, key, "string keys")
            check_text(key, field)
            check_json(item, f"{field}.{key}", depth + 1, root)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_json(item, f"{field}[{index}]", depth + 1, root)
    elif value is not None and not isinstance(value, bool | int):
        raise InvalidInput(field, value, "a JSON value")


def check_change(change: Change) -> Change:
    """Refuse a change the store could not hold alike on both backends (see MAX_LENGTHS)."""
    check_text(change.id, "id", MAX_LENGTHS["id"])
    for service in change.services:
        check_text(service, "service", MAX_LENGTHS["service"])
    check_text(change.environment, "environment", MAX_LENGTHS["environment"])
    for name in _TEXT_FIELDS:
        value = getattr(change, name)
        if value is not None:
            check_text(value, name, MAX_LENGTHS.get(name))
    for label, values in (change.scope or {}).items():
        check_text(label, "scope")
        for value in values:
            check_text(value, f"scope.{label}")
    check_json(change.details, "details")
    return change


@dataclass(frozen=True, slots=True)
class Change:
    """One change to a live system: the canonical record every source is normalised to."""

    id: str
    kind: ChangeKind
    services: tuple[str, ...]
    at: datetime
    environment: str = DEFAULT_ENVIRONMENT
    started_at: datetime | None = None
    version: str | None = None
    previous_version: str | None = None
    status: ChangeStatus = ChangeStatus.SUCCEEDED
    reversible: bool | None = None
    scope: Scope | None = None  # None = unknown, treated as everywhere
    summary: str | None = None
    author: str | None = None
    url: str | None = None
    source: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_global(self) -> bool:
        return GLOBAL in self.services

    @property
    def effective_start(self) -> datetime:
        """When the change began to take effect: a rollout's start, else its completion."""
        return self.started_at or self.at

    @property
    def label(self) -> str:
        """A short human name: ``deploy of checkout v1.4.2``."""
        where = "every service" if self.is_global else ", ".join(self.services)
        what = self.kind.value.replace("_", " ")
        return f"{what} of {where}" + (f" {self.version}" if self.version else "")

    def to_dict(self) -> dict[str, Any]:
        """The DESIGN §1 JSON form, omitting empty optional fields."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind.value}
        if len(self.services) == 1 and not self.is_global:
            out["service"] = self.services[0]
        else:
            out["services"] = list(self.services)
        out["environment"] = self.environment
        out["at"] = format_utc(self.at)
        if self.started_at is not None:
            out["started_at"] = format_utc(self.started_at)
        for name in ("version", "previous_version"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out["status"] = self.status.value
        if self.reversible is not None:
            out["reversible"] = self.reversible
        if self.scope is not None:
            out["scope"] = scope_to_dict(self.scope)
        for name in ("summary", "author", "url", "source"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.details:
            out["details"] = dict(self.details)
        return out


def change_from_dict(data: object, *, default_id: str | None = None) -> Change:
    """Validate one DESIGN §1 object and build a Change.

    Raises InvalidInput naming the field, the value and what was expected, so a person can fix
    the producer instead of guessing. ``default_id`` serves ingestion paths that derive the id.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("", data, "a JSON object (a change event)")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise InvalidInput(unknown[0], data[unknown[0]],
                           f"no such field; known fields are {', '.join(sorted(_FIELDS))}")
    change_id = data.get("id", default_id)
    if not isinstance(change_id, str) or not change_id.strip():
        raise InvalidInput("id", change_id, "a non-empty string (derive it as "
                           "<source>:<external id>)")
    kind_value: Any = data.get("kind")
    try:
        kind = ChangeKind(kind_value)
    except ValueError:
        raise InvalidInput("kind", kind_value,
                           "one of " + ", ".join(k.value for k in ChangeKind)) from None
    services = _services(data)
    at = parse_rfc3339(data.get("at"), "at") if "at" in data else None
    if at is None:
        raise InvalidInput("at", None, "an RFC 3339 timestamp with an offset (required)")
    started_at = None
    if data.get("started_at") is not None:
        started_at = parse_rfc3339(data["started_at"], "started_at")
        if started_at > at:
            raise InvalidInput("started_at", data["started_at"],
                               f"a time no later than at ({data['at']})")
    environment = data.get("environment", DEFAULT_ENVIRONMENT)
    if not isinstance(environment, str) or not environment:
        raise InvalidInput("environment", environment, "a non-empty string")
    status_value = data.get("status", ChangeStatus.SUCCEEDED.value)
    try:
        status = ChangeStatus(status_value)
    except ValueError:
        raise InvalidInput("status", status_value,
                           "one of " + ", ".join(s.value for s in ChangeStatus)) from None
    reversible = data.get("reversible")
    if reversible is not None and not isinstance(reversible, bool):
        raise InvalidInput("reversible", reversible, "true, false or null")
    texts: dict[str, str | None] = {}
    for name in _TEXT_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(name, value, "a string (quote version numbers)")
        texts[name] = value
    details = data.get("details")
    details = {} if details is None else details
    if not isinstance(details, Mapping):
        raise InvalidInput("details", details, "a JSON object")
    return check_change(Change(
        id=change_id, kind=kind, services=services, at=at, environment=environment,
        started_at=started_at, status=status, reversible=reversible,
        scope=scope_from_dict(data.get("scope"), "scope"), details=dict(details), **texts))


def scope_from_dict(value: object, field: str = "scope") -> Scope | None:
    """Validate a scope object (label -> list of strings); ``None`` or ``{}`` is unknown.

    Values are kept sorted and unique so that equal scopes compare and store equal.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput(field, value, 'an object of label -> list of strings, e.g. '
                           '{"region": ["us-east-1"]}')
    out: dict[str, tuple[str, ...]] = {}
    for label, values in value.items():
        if not isinstance(label, str) or not label.strip():
            raise InvalidInput(field, label, "a non-empty label name such as region or cell")
        if (not isinstance(values, list | tuple) or not values
                or not all(isinstance(v, str) and v.strip() for v in values)):
            raise InvalidInput(f"{field}.{label}", values, "a non-empty list of non-empty strings")
        check_text(label, field)
        for item in values:
            check_text(item, f"{field}.{label}")
        out[label] = tuple(sorted(set(values)))
    return dict(sorted(out.items())) or None


def scope_to_dict(scope: Scope) -> dict[str, list[str]]:
    return {label: list(values) for label, values in scope.items()}


def scope_text(scope: Scope) -> str:
    """``region us-east-1, eu-west-1; cell 7``: a scope as people write it."""
    return "; ".join(f"{label} {', '.join(values)}" for label, values in scope.items())


def _services(data: Mapping[str, Any]) -> tuple[str, ...]:
    has_one, has_many = data.get("service") is not None, data.get("services") is not None
    if has_one == has_many:
        raise InvalidInput("service", data.get("service"),
                           "exactly one of service (a graph node) or services (a list; "
                           '["*"] for a global change)')
    if has_one:
        value = data["service"]
        if not isinstance(value, str) or not value:
            raise InvalidInput("service", value, "a non-empty string naming a graph node")
        return (value,)
    values = data["services"]
    if (not isinstance(values, list) or not values
            or not all(isinstance(v, str) and v for v in values)):
        raise InvalidInput("services", values, 'a non-empty list of node names, or ["*"]')
    return tuple(dict.fromkeys(values))


def changes_from_dicts(items: Iterable[object]) -> list[Change]:
    """Validate a batch; any bad item rejects the whole batch (nothing half-stored)."""
    out = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            change = change_from_dict(item)
        except InvalidInput as exc:
            raise exc.within(f"changes[{index}]") from None
        if change.id in seen:
            raise InvalidInput(f"changes[{index}].id", change.id, "an id not repeated in the batch")
        seen.add(change.id)
        out.append(change)
    return out


@dataclass(frozen=True, slots=True)
class Symptom:
    """Another node seen failing, with its own onset (DESIGN §3)."""

    node: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Incident:
    """What the pager says: which endpoint or service broke and when errors began, the other
    nodes alarming with it (``symptoms``), and where it fails (``scope``)."""

    target: str
    started_at: datetime
    environment: str = DEFAULT_ENVIRONMENT
    symptoms: tuple[Symptom, ...] = ()
    scope: Scope | None = None

    @property
    def earliest_onset(self) -> datetime:
        """The first onset among the target and the symptoms: where the window is anchored."""
        return min([self.started_at, *(s.started_at for s in self.symptoms)])


def symptoms_from_list(value: object, field: str = "symptoms", *,
                       default_onset: datetime | None = None) -> tuple[Symptom, ...]:
    """Validate ``[{node, started_at}, ...]``; a repeated node keeps its earliest onset.

    ``default_onset`` (the incident's) serves a symptom given without a time, as a responder
    types it ("payments is alarming too"); without it the time is required.
    """
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidInput(field, value, "a list of {node, started_at} objects")
    earliest: dict[str, datetime] = {}
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidInput(where, item, "an object {node, started_at}")
        extra = sorted(set(item) - {"node", "started_at"})
        if extra:
            raise InvalidInput(f"{where}.{extra[0]}", item[extra[0]],
                               "no such field; a symptom has node and started_at")
        node = item.get("node")
        if not isinstance(node, str) or not node.strip():
            raise InvalidInput(f"{where}.node", node, "a node or endpoint name")
        check_text(node, f"{where}.node", MAX_LENGTHS["service"])
        if item.get("started_at") is None and default_onset is not None:
            at = default_onset
        else:
            at = parse_rfc3339(item.get("started_at"), f"{where}.started_at")
        earliest[node] = min(at, earliest.get(node, at))
    return tuple(Symptom(node, at) for node, at in earliest.items())

@dataclass(frozen=True, slots=True)
class Reason:
    """One factor behind a suspect's score, with the figure a person can check."""

    factor: str          # time | graph | prior | status | risk | scope
    text: str
    weight: float        # multiplicative effect on the score (1.0 = neutral)


@dataclass(frozen=True, slots=True)
class Suspect:
    """A candidate change with its score, its share of the belief and its reasons."""

    change: Change
    rank: int
    score: float
    probability: float
    hops: int | None
    path: tuple[str, ...]
    after_onset: bool
    unknown_service: bool
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "change": self.change.to_dict(),
            "score": _finite(self.score),
            "probability": round(self.probability, 4),
            "hops": self.hops,
            "path": list(self.path),
            "after_onset": self.after_onset,
            "unknown_service": self.unknown_service,
            "reasons": [{"factor": r.factor, "text": r.text, "weight": _finite(r.weight)}
                        for r in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class Ranking:
    """The engine's answer: suspects best first and the belief that no change explains it."""

    incident: Incident
    suspects: tuple[Suspect, ...]
    no_change_probability: float
    window: timedelta
    warnings: tuple[str, ...] = ()
    candidates: int = 0  # every change considered; suspects lists the best of them
    unlisted_probability: float = 0.0  # what the candidates not listed hold together
    no_change_reason: str = ""  # how the symptoms bear on "no change", when there are some

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident": incident_to_dict(self.incident),
            "window_hours": self.window.total_seconds() / 3600,
            "candidates": self.candidates,
            "no_change_probability": round(self.no_change_probability, 4),
            "unlisted_probability": round(self.unlisted_probability, 4),
            **({"no_change_reason": self.no_change_reason} if self.no_change_reason else {}),
            "suspects": [s.to_dict() for s in self.suspects],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class StackedChange:
    """A change that a rollback of the suspect would also undo or conflict with."""

    change: Change
    why: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    """rollback, forward_fix or investigate, with confidence, target and reasons (DESIGN §5)."""

    decision: Decision
    confidence: float
    suspect: Suspect | None
    rollback_target: str | None
    reasons: tuple[str, ...]
    also_affected: tuple[StackedChange, ...] = ()
    next_questions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "confidence": round(self.confidence, 4),
            "change_id": self.suspect.change.id if self.suspect else None,
            "rollback_target": self.rollback_target,
            "reasons": list(self.reasons),
            "also_affected": [{"id": s.change.id, "why": s.why} for s in self.also_affected],
            "next_questions": list(self.next_questions),
        }


def incident_to_dict(incident: Incident) -> dict[str, Any]:
    out: dict[str, Any] = {"target": incident.target,
                           "started_at": format_utc(incident.started_at),
                           "environment": incident.environment}
    if incident.symptoms:
        out["symptoms"] = [{"node": s.node, "started_at": format_utc(s.started_at)}
                           for s in incident.symptoms]
    if incident.scope is not None:
        out["scope"] = scope_to_dict(incident.scope)
    return out



def incident_from_dict(data: object) -> Incident:
    """``incident_to_dict``'s inverse (a case file's incident, a stored advice's);
    InvalidInput naming the field for anything else."""
    if not isinstance(data, Mapping):
        raise InvalidInput("incident", data, "an object {target, started_at, environment}")
    started = parse_rfc3339(data.get("started_at"), "incident.started_at")
    return Incident(target=str(data.get("target")), started_at=started,
                    environment=str(data.get("environment") or DEFAULT_ENVIRONMENT),
                    symptoms=symptoms_from_list(data.get("symptoms"), "incident.symptoms"),
                    scope=scope_from_dict(data.get("scope"), "incident.scope"))

def _finite(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def dumps(obj: Any) -> str:
    """JSON for people and machines: stable key order is left as built, datetimes as RFC 3339."""
    return json.dumps(obj, indent=2, default=_default, ensure_ascii=False)


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return format_utc(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
