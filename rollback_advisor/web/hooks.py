"""Blueprint ``hooks``: ``POST /hooks/<hook id>`` receives CI and vendor deliveries.

Order matters: look the hook up, verify the signature over the exact raw bytes (401, nothing
stored), parse (400 with the reason), then store the raw delivery and its changes in one
transaction keyed by (hook, delivery key). A redelivery answers 200 ``duplicate``; an event the
hook does not handle answers 200 ``ignored`` with the reason and is stored nowhere. An update
to a change another hook or source created answers 409 and stores nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, request

from ..config import Settings
from ..errors import Conflict, InvalidInput, NotFound
from ..store.service_tables import HookRecord, StaleHook, attach_delivery
from .errors import Unauthorized
from .services import services

bp = Blueprint("hooks", __name__, url_prefix="/hooks")

# Never stored with the raw payload: they carry the secret or credentials.
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-gitlab-token", "x-hub-signature",
                            "x-hub-signature-256", "x-rollback-advisor-signature",
                            "x-slack-signature", "proxy-authorization",
                            "x-pagerduty-signature", "x-grafana-alerting-signature"})


def kept_headers(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """The request's headers (or ``headers``, already read from it) without the secret ones."""
    items = request.headers.items() if headers is None else headers.items()
    return {k: v for k, v in items if k.lower() not in SECRET_HEADERS}


class _Unconfirmed(Exception):
    """An answer from a cached hook that the store did not confirm: read the hook afresh and
    answer from that instead."""


@bp.post("/<hook_id>")
def deliver(hook_id: str) -> Any:
    """Answer from this worker's copy of the hook when the store confirms it with the delivery
    (the one statement that stores it checks the hook is still active, same nonce and vendor
    secret); any other answer (404, 401, 400, ignored, an alert) and a stale copy read the hook
    first, so a revoked hook is refused at once in every worker."""
    svc = services()
    body = request.get_data(cache=False)
    cached = svc.cached_hook(hook_id)
    if cached is not None:
        try:
            return _deliver(svc, cached, body, confirmed=False)
        except _Unconfirmed:
            svc.forget_hook(hook_id)
    hook = svc.hook(hook_id)
    if hook is None or not hook.active:
        svc.metrics.rejected.labels("unknown_hook").inc()
        raise NotFound(f"no active hook {hook_id!r}: register one with 'rollback-advisor hooks "
                       "register' or POST /api/v1/hooks")
    return _deliver(svc, hook, body, confirmed=True)


def _deliver(svc: Any, hook: HookRecord, body: bytes, *, confirmed: bool) -> Any:
    """One delivery by ``hook``. Unless ``confirmed`` (read from the store in this request),
    every answer but what ``store_delivery`` confirms raises _Unconfirmed before it counts
    anything in the metrics."""
    from connectors.hooks import parser_for

    metrics = svc.metrics
    parser = parser_for(hook.source)
    headers = dict(request.headers.items())
    if not any(parser.verify(headers, body, s) for s in svc.hook_secrets(hook)):
        if not confirmed:
            raise _Unconfirmed
        metrics.rejected.labels("signature").inc()
        raise Unauthorized(f"the delivery's signature is missing or does not match hook "
                           f"{hook.id}'s secret ({_signature_hint(hook.source)})")
    context = hook_context(hook, svc.settings, lambda: svc.advisor().graph())
    try:
        parsed = parser.parse(headers, body, context)
    except InvalidInput:
        if not confirmed:
            raise _Unconfirmed from None
        metrics.rejected.labels("malformed").inc()
        raise
    if not confirmed and (parsed.ignored is not None or parsed.alerts is not None):
        raise _Unconfirmed
    if parsed.ignored is not None:
        metrics.deliveries.labels(hook.source, "ignored").inc()
        return {"status": "ignored", "event": parsed.event, "reason": parsed.ignored,
                "changes": []}
    key = parsed.delivery_key or "sha256:" + hashlib.sha256(body).hexdigest()
    if parsed.alerts is not None:
        return _deliver_alerts(svc, hook.id, hook.source, parsed, key, body)
    changes = attach_delivery(parsed.changes, hook.id, key)
    try:
        result = svc.tables.store_delivery(hook_id=hook.id, delivery_key=key,
                                           event=parsed.event, headers=kept_headers(headers),
                                           body=parsed.stored_body or body, changes=changes,
                                           confirm=None if confirmed else hook)
    except StaleHook:
        raise _Unconfirmed from None
    except Conflict:  # a change another source created: 409, nothing stored
        metrics.rejected.labels("not_owner").inc()
        raise
    ids = [c.id for c in changes]
    if result.duplicate:
        metrics.deliveries.labels(hook.source, "duplicate").inc()
        return {"status": "duplicate", "event": parsed.event, "delivery_key": key,
                "changes": ids}
    metrics.deliveries.labels(hook.source, "stored").inc()
    metrics.ingested.labels(hook.source).inc(len(ids))
    return {"status": "stored", "event": parsed.event, "delivery_key": key, "changes": ids,
            "inserted": result.changes.inserted, "updated": result.changes.updated}, 201


def hook_context(hook: HookRecord, settings: Settings, graph: Callable[[], Any]) -> Any:
    """What a parser knows of the hook a delivery came by: the same on receipt and on
    ``deliveries replay``, so a replay of an unchanged parse rewrites nothing."""
    from connectors.hooks import HookContext

    return HookContext(hook_id=hook.id, source=hook.source, mapping=hook.mapping,
                       environment=hook.environment, repo_map=_repo_map(graph, hook.source),
                       environments=settings.environment_map, labels=hook.labels)


def _deliver_alerts(svc: Any, hook_id: str, source: str, parsed: Any, key: str,
                    body: bytes) -> Any:
    """An alert delivery: the raw delivery and the incident update in one transaction; a
    redelivery answers ``duplicate`` and changes nothing (rollback_advisor.incidents)."""
    from ..store.service_tables import delivery_values

    delivery = delivery_values(hook_id=hook_id, delivery_key=key, event=parsed.event,
                               headers=kept_headers(), body=parsed.stored_body or body,
                               change_ids=[])
    applied = svc.incidents().receive(hook_id=hook_id, batch=parsed.alerts, delivery=delivery)
    if applied.duplicate:
        svc.metrics.deliveries.labels(source, "duplicate").inc()
        return {"status": "duplicate", "event": parsed.event, "delivery_key": key,
                "changes": []}
    svc.metrics.deliveries.labels(source, "stored").inc()
    incident, outcome = applied.incident, applied.outcome
    return {"status": "stored", "event": parsed.event, "delivery_key": key, "changes": [],
            "incident": {"id": incident.id, "status": incident.state.status,
                         "opened": outcome.opened, "symptoms_added": list(outcome.added),
                         "resolved": outcome.resolved, "reopened": outcome.reopened,
                         "advised": outcome.advise is not None}}, 201


def _repo_map(graph: Callable[[], Any], source: str) -> Mapping[str, str]:
    """The graph's ``repo:`` annotations, which ``sync`` maps repositories by too (so a hook
    delivery and a sync of one deployment name the same node); none before a graph is loaded.
    Only GitHub and GitLab deliveries name a repository."""
    if source not in ("github", "gitlab"):
        return {}
    try:
        return graph().repo_map()  # type: ignore[no-any-return]
    except NotFound:
        return {}


def _signature_hint(source: str) -> str:
    return {"github": "GitHub signs with X-Hub-Signature-256 when the webhook has this secret",
            "gitlab": "GitLab sends the secret token as X-Gitlab-Token",
            "alertmanager": "configure http_config.authorization (type Bearer, the hook's "
                            "secret as credentials)",
            "grafana": "set the contact point's HMAC secret (X-Grafana-Alerting-Signature) or "
                       "its Authorization header (Bearer, the hook's secret)",
            "pagerduty-incidents": "PagerDuty signs with X-PagerDuty-Signature: v1=...; or "
                                   "add the custom header Authorization: Bearer <secret>"}.get(
        source, "sign the body with X-Rollback-Advisor-Signature: sha256=<hex HMAC-SHA256>, "
                "as 'rollback-advisor notify' does")
