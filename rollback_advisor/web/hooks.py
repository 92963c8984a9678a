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
from ..store.service_tables import HookRecord, attach_delivery
from .credentials import hook_secret
from .errors import Unauthorized
from .services import services

bp = Blueprint("hooks", __name__, url_prefix="/hooks")

# Never stored with the raw payload: they carry the secret or credentials.
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-gitlab-token", "x-hub-signature",
                            "x-hub-signature-256", "x-rollback-advisor-signature",
                            "x-slack-signature", "proxy-authorization",
                            "x-pagerduty-signature"})


def kept_headers() -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in SECRET_HEADERS}


@bp.post("/<hook_id>")
def deliver(hook_id: str) -> Any:
    from connectors.hooks import parser_for

    svc = services()
    metrics = svc.metrics
    hook = svc.hook(hook_id)
    if hook is None or not hook.active:
        metrics.rejected.labels("unknown_hook").inc()
        raise NotFound(f"no active hook {hook_id!r}: register one with 'rollback-advisor hooks "
                       "register' or POST /api/v1/hooks")
    parser = parser_for(hook.source)
    body = request.get_data(cache=False)
    headers = dict(request.headers.items())
    secret = hook_secret(svc.server_key(), hook.id, hook.nonce)
    if not parser.verify(headers, body, secret):
        metrics.rejected.labels("signature").inc()
        raise Unauthorized(f"the delivery's signature is missing or does not match hook "
                           f"{hook.id}'s secret ({_signature_hint(hook.source)})")
    context = hook_context(hook, svc.settings, lambda: svc.advisor().graph())
    try:
        parsed = parser.parse(headers, body, context)
    except InvalidInput:
        metrics.rejected.labels("malformed").inc()
        raise
    if parsed.ignored is not None:
        metrics.deliveries.labels(hook.source, "ignored").inc()
        return {"status": "ignored", "event": parsed.event, "reason": parsed.ignored,
                "changes": []}
    key = parsed.delivery_key or "sha256:" + hashlib.sha256(body).hexdigest()
    changes = attach_delivery(parsed.changes, hook.id, key)
    try:
        result = svc.tables.store_delivery(hook_id=hook.id, delivery_key=key,
                                           event=parsed.event, headers=kept_headers(),
                                           body=parsed.stored_body or body, changes=changes)
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
                       environments=settings.environment_map)


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
            "gitlab": "GitLab sends the secret token as X-Gitlab-Token"}.get(
        source, "sign the body with X-Rollback-Advisor-Signature: sha256=<hex HMAC-SHA256>, "
                "as 'rollback-advisor notify' does")
