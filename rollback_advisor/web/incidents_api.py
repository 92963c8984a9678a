"""Blueprint ``incidents`` at ``/api/v1/incidents``: list, show (with the advice history), open
an incident by hand, and record or list its verdicts (DESIGN §7). Incidents opened by alerts
arrive through ``/hooks``; verdicts from Slack buttons through ``/slack/interactions``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, request

from ..errors import InvalidInput
from ..incident_input import symptoms_from_body
from ..incidents import incident_number
from ..models import Incident, scope_from_dict
from ..store.incidents import IncidentRecord
from ..timeutil import parse_when, utc_now
from ..verdicts import MAX_NOTE, verdict_kind
from .api import _int, json_body
from .auth import check_token, require
from .services import services
from .services import text_field as _text

bp = Blueprint("incidents", __name__, url_prefix="/api/v1/incidents")

_OPEN_FIELDS = {"target", "at", "environment", "symptoms", "scope", "title"}
_VERDICT_FIELDS = {"change", "verdict", "note"}


def _body(known: set[str]) -> Mapping[str, Any]:
    """The JSON body; InvalidInput naming the first field it should not have."""
    data = json_body()
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(unknown[0], data[unknown[0]], "no such field; known: "
                           + ", ".join(sorted(known)))
    return data


def incident_body(record: IncidentRecord, *, advice: bool) -> dict[str, Any]:
    """The incident as the API shows it; ``advice`` adds its history (oldest first)."""
    body = record.to_dict()
    if advice:
        body["advice"] = [e.to_dict() for e in
                          services().incidents().tables.advice_history(record.id)]
    return body


@bp.get("")
@require("read")
def list_incidents() -> Any:
    args = request.args
    status = args.get("status") or None
    limit = _int(args, "limit", 50, 1, 500)
    offset = _int(args, "offset", 0, 0, 10_000_000)
    found = services().incidents().tables.list(status=status, limit=limit, offset=offset)
    return {"incidents": [incident_body(r, advice=False) for r in found], "limit": limit,
            "offset": offset, "next_offset": offset + limit if len(found) == limit else None}


@bp.get("/<incident_id>")
@require("read")
def show_incident(incident_id: str) -> Any:
    return incident_body(services().incidents().tables.get(incident_number(incident_id)),
                         advice=True)


@bp.post("")
@require("admin")
def open_incident() -> Any:
    data = _body(_OPEN_FIELDS)
    svc = services()
    target = _text(data, "target", required=True)
    assert target is not None
    now = utc_now()
    at = parse_when(_text(data, "at") or "now", now, "at")
    incident = Incident(target=target, started_at=at,
                        environment=_text(data, "environment") or svc.settings.environment,
                        symptoms=symptoms_from_body(data.get("symptoms"), onset=at, now=now),
                        scope=scope_from_dict(data.get("scope"), "scope"))
    record = svc.incidents().open(incident, title=_text(data, "title"))
    return incident_body(record, advice=True), 201


@bp.get("/<incident_id>/verdicts")
@require("read")
def list_verdicts(incident_id: str) -> Any:
    found = services().verdicts().list(incident_number(incident_id))
    return {"verdicts": [v.to_dict() for v in found]}


@bp.post("/<incident_id>/verdicts")
def record_verdict(incident_id: str) -> Any:
    """``{change?, verdict, note?}``; ``by`` is the admin token's name (else its id)."""
    svc = services()
    token_id = check_token("admin")
    token = svc.tables.get_token(token_id)
    by = (token.name if token is not None and token.name else f"token:{token_id}")
    data = _body(_VERDICT_FIELDS)
    kind = verdict_kind(data.get("verdict"))
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidInput("note", note, f"a string of at most {MAX_NOTE} characters")
    stored = svc.verdicts().record(incident_number(incident_id),
                                   change=_text(data, "change"), verdict=kind, by=by,
                                   note=note)
    return {"verdicts": [v.to_dict() for v in stored]}, 201
