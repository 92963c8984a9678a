"""Blueprint ``api`` at ``/api/v1``: recommendations, suspects, changes, graph and hooks.

Views are thin: parse the request into plain values (InvalidInput names the field), call the
same Advisor the CLI uses, serialise with the shared renderers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, request

from ..advisor import Advice
from ..errors import InvalidInput
from ..models import Ranking
from ..render import advice_slack, suspects_report
from ..timeutil import parse_when, utc_now
from .auth import require
from .credentials import register_hook
from .services import services
from .services import text_field as _text
from .slack import block_kit, post_to_webhook

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_RECOMMEND_FIELDS = {"target", "at", "environment", "window", "limit", "notify_slack",
                     "symptoms", "scope"}


def json_body() -> Mapping[str, Any]:
    """The request's JSON object, or InvalidInput saying what was wrong with it."""
    if not request.is_json:
        raise InvalidInput("body", request.mimetype or None,
                           "a JSON object with Content-Type: application/json")
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise InvalidInput("body", None, "a JSON document nested less deeply") from None
    if not isinstance(data, Mapping):
        raise InvalidInput("body", data, "a JSON object")
    return data


def _int(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise InvalidInput(key, value, f"a whole number from {low} to {high}") from None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(key, value, f"a whole number from {low} to {high}")
    return value


def _ranking_dict(ranking: Ranking, limit: int) -> dict[str, Any]:
    """``ranking.to_dict()`` listing the first ``limit`` suspects: the engine explains up to
    its ``max_listed`` (100) of them, and rendering those the answer does not show cost more
    than the rest of the response. ``candidates`` still counts every change considered."""
    return replace(ranking, suspects=ranking.suspects[:limit]).to_dict()


def advise(data: Mapping[str, Any]) -> Advice:
    """Advice for the incident a request describes (``Services.advise_request``)."""
    return services().advise_request(data)


@bp.post("/recommendations")
@require("read")
def recommendations() -> Any:
    data = json_body()
    unknown = sorted(set(data) - _RECOMMEND_FIELDS)
    if unknown:
        raise InvalidInput(unknown[0], data[unknown[0]], "no such field; known: "
                           + ", ".join(sorted(_RECOMMEND_FIELDS)))
    notify = data.get("notify_slack", False)
    if not isinstance(notify, bool):
        raise InvalidInput("notify_slack", notify, "true or false")
    limit = _int(data, "limit", services().settings.output.max_suspects, 1, 1000)
    advice = advise(data)
    body = {"recommendation": advice.recommendation.to_dict(),
            **_ranking_dict(advice.ranking, limit), **_sources(advice)}
    if notify:
        post_to_webhook(services().settings, advice, limit)
        body["notified_slack"] = True
    return body


@bp.get("/suspects")
@require("read")
def suspects() -> Any:
    args = request.args
    fmt = args.get("format", "json")
    if fmt not in ("json", "slack", "text"):
        raise InvalidInput("format", fmt, "json, slack or text")
    limit = _int(args, "limit", services().settings.output.max_suspects, 1, 1000)
    advice = advise(args)
    if fmt == "slack":
        return Response(advice_slack(advice, limit), mimetype="text/plain")
    if fmt == "text":
        return Response(suspects_report(advice, limit) + "\n", mimetype="text/plain")
    return {**_ranking_dict(advice.ranking, limit), **_sources(advice)}


def _sources(advice: Advice) -> dict[str, Any]:
    """``sources``: each connector source's freshness, when any are configured."""
    return {"sources": [s.to_dict() for s in advice.sources]} if advice.sources else {}


@bp.get("/sources")
@require("read")
def sources() -> Any:
    """Each configured connector source: schedule, last success and error, lag, next run."""
    return {"sources": services().freshness.status()}


@bp.get("/suspects/blocks")
@require("read")
def suspects_blocks() -> Any:
    """Block Kit form of the suspect list (what the slash command answers)."""
    limit = _int(request.args, "limit", services().settings.output.max_suspects, 1, 50)
    advice = advise(request.args)
    return block_kit(advice, limit)


@bp.get("/changes")
@require("read")
def changes() -> Any:
    args = request.args
    now = utc_now()
    limit = _int(args, "limit", 50, 1, 1000)
    offset = _int(args, "offset", 0, 0, 10_000_000)
    since, until = args.get("since"), args.get("until")
    found = services().store.list_changes(
        service=_text(args, "service"), kind=args.get("kind") or None,
        environment=_text(args, "environment"), limit=limit, offset=offset,
        since=parse_when(since, now, "since") if since else None,
        until=parse_when(until, now, "until") if until else None)
    return {"changes": [c.to_dict() for c in found], "limit": limit, "offset": offset,
            "next_offset": offset + limit if len(found) == limit else None}


@bp.get("/graph")
@require("read")
def graph() -> Any:
    svc = services()
    g = svc.advisor().graph()
    node = request.args.get("node")
    if node:
        name = g.resolve(node)
        return {"node": name, "type": g.node_type(name), "depends_on": g.dependencies(name),
                "dependants": g.dependants(name)}
    report = g.check()
    return {"graph": svc.store.load_graph(), "nodes": report.nodes, "edges": report.edges,
            "endpoints": report.endpoints}


@bp.post("/hooks")
@require("admin")
def create_hook() -> Any:
    data = json_body()
    known = {"name", "source", "map", "environment", "labels"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(unknown[0], data[unknown[0]], "no such field; known: "
                           + ", ".join(sorted(known)))
    name = _text(data, "name", required=True)
    source = data.get("source")
    mapping = data.get("map") or {}
    if not isinstance(mapping, Mapping) or not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in mapping.items()):
        raise InvalidInput("map", mapping, "an object of repo/project -> graph node (strings)")
    labels = data.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise InvalidInput("labels", labels, "an object of FIELD -> LABEL[,LABEL...]")
    svc = services()
    created = register_hook(tables=svc.tables, server_key=svc.server_key(),
                            base_url=svc.public_url(), name=name or "", source=str(source or ""),
                            mapping=mapping, environment=_text(data, "environment"),
                            labels=labels)
    return created, 201


@bp.get("/hooks")
@require("admin")
def list_hooks() -> Any:
    return {"hooks": [h.public() for h in services().tables.list_hooks()]}


@bp.delete("/hooks/<hook_id>")
@require("admin")
def revoke_hook(hook_id: str) -> Any:
    svc = services()
    svc.tables.revoke_hook(hook_id)
    svc.forget_hook(hook_id)
    return {"id": hook_id, "revoked": True}
