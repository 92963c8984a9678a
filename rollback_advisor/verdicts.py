"""A responder's verdict on an incident (DESIGN §7): what the priors learn from.

``{incident, change (or null), verdict: culprit | not_culprit | no_change, by, at, note}``.
The incident is an opaque string id, so verdicts stand apart from however incidents are
stored. A verdict keeps the kind and source of the change it names (copied from the stored
change when it is recorded): learning then needs nothing but the verdicts, even after the
change itself is gone. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .errors import InvalidInput
from .models import MAX_LENGTHS, ChangeKind, check_text
from .timeutil import format_utc, parse_rfc3339, to_utc

MAX_INCIDENT = 256  # verdicts.incident VARCHAR(256)
MAX_BY = 256
MAX_NOTE = 4000
_FIELDS = {"incident", "change", "verdict", "by", "at", "note", "kind", "source"}


class VerdictKind(StrEnum):
    CULPRIT = "culprit"  # this change caused the incident
    NOT_CULPRIT = "not_culprit"  # this change did not
    NO_CHANGE = "no_change"  # no change caused it (names no change)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One responder's conclusion; a later one on the same (incident, change) replaces it."""

    incident: str
    change: str | None
    verdict: VerdictKind
    by: str
    at: datetime
    note: str | None = None
    # of the change named, when it was recorded (None when it names none)
    kind: ChangeKind | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        check_verdict(self)

    @property
    def key(self) -> tuple[str, str | None]:
        return self.incident, self.change

    def to_dict(self) -> dict[str, Any]:
        return {"incident": self.incident, "change": self.change,
                "verdict": self.verdict.value, "by": self.by, "at": format_utc(self.at),
                "note": self.note, "kind": self.kind.value if self.kind else None,
                "source": self.source}


def check_verdict(v: Verdict) -> None:
    """Refuse a verdict that contradicts itself or that the store could not hold."""
    _text(v.incident, "incident", MAX_INCIDENT, required=True)
    _text(v.by, "by", MAX_BY, required=True)
    if v.note is not None:
        _text(v.note, "note", MAX_NOTE)
    if v.source is not None:
        _text(v.source, "source", MAX_LENGTHS["source"])
    if not isinstance(v.verdict, VerdictKind):
        raise InvalidInput("verdict", v.verdict, _KINDS_TEXT)
    if v.kind is not None and not isinstance(v.kind, ChangeKind):
        raise InvalidInput("kind", v.kind, "a change kind")
    if not isinstance(v.at, datetime) or v.at.tzinfo is None:
        raise InvalidInput("at", v.at, "a time with a UTC offset")
    to_utc(v.at, "at")
    if v.verdict is VerdictKind.NO_CHANGE:
        if v.change is not None:
            raise InvalidInput("change", v.change, "null with verdict no_change (no change "
                               "caused it; use not_culprit to clear one change)")
    else:
        if v.change is None:
            raise InvalidInput("change", None, f"a change id with verdict {v.verdict.value}")
        _text(v.change, "change", MAX_LENGTHS["id"], required=True)


def _text(value: object, field: str, limit: int, required: bool = False) -> None:
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(field, value, "a non-empty string" if required else "a string")
    check_text(value, field, limit)


_KINDS_TEXT = "one of " + ", ".join(k.value for k in VerdictKind)


def verdict_kind(value: object) -> VerdictKind:
    """``culprit``, ``not_culprit`` or ``no_change``; InvalidInput naming ``verdict`` else."""
    try:
        return VerdictKind(str(value))
    except ValueError:
        raise InvalidInput("verdict", value, _KINDS_TEXT) from None


def verdict_from_dict(data: object) -> Verdict:
    """Build a verdict from JSON-like input; a bad field is named in the error."""
    if not isinstance(data, Mapping):
        raise InvalidInput("verdict", data, "an object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise InvalidInput(unknown[0], data[unknown[0]], "no such field; known: "
                           + ", ".join(sorted(_FIELDS)))
    kind = verdict_kind(data.get("verdict"))
    change_kind = data.get("kind")
    if change_kind is not None:
        try:
            change_kind = ChangeKind(change_kind)
        except ValueError:
            raise InvalidInput("kind", change_kind, "a change kind: " + ", ".join(
                k.value for k in ChangeKind)) from None
    if "at" not in data:
        raise InvalidInput("at", None, "an RFC 3339 time")
    return Verdict(incident=data.get("incident"),  # type: ignore[arg-type]  # checked
                   change=data.get("change"), verdict=kind,
                   by=data.get("by"),  # type: ignore[arg-type]
                   at=parse_rfc3339(data["at"], "at"), note=data.get("note"),
                   kind=change_kind, source=data.get("source"))
