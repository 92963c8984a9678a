"""Canonical DESIGN §1 change events posted by CI (``rollback-advisor notify``) or any script.

The body is one change event, a JSON list of them, or ``{"changes": [...]}``; each is validated
with ``change_from_dict`` and one bad item rejects the whole delivery (the error names its index),
as ``import`` does. An event without ``id`` gets ``generic:<sha256 of its canonical JSON>[:16]``,
so a redelivery of the same event upserts rather than duplicates. An event without
``environment`` takes the hook's environment (else ``production``); events of another
environment than the hook's are dropped. Signed with ``X-Rollback-Advisor-Signature``.

The delivery key is ``X-Rollback-Advisor-Delivery`` (when sent) followed by a hash of the
content: a retry of the same post is a redelivery, but a later status of the same change (``notify
--status in_progress``, then ``--status failed`` with the same ``--id``) is a delivery of its
own, and updates the change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change, change_from_dict

from .base import (
    DELIVERY_HEADER,
    HookContext,
    Parsed,
    content_hash,
    decode_json,
    environment_filtered,
    header,
    join_reasons,
    verify_own_signature,
)


class GenericParser:
    """DESIGN §1 change events, signed with our own HMAC header."""

    name = "generic"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Check ``X-Rollback-Advisor-Signature: sha256=<hex HMAC-SHA256(secret, body)>``."""
        return verify_own_signature(headers, body, secret)

    def parse(self, headers: Mapping[str, str], body: bytes, context: HookContext) -> Parsed:
        """Validate the delivered change events; all or nothing."""
        payload = decode_json(body)
        if isinstance(payload, list):
            items, batch = payload, True
        elif isinstance(payload, Mapping) and "changes" in payload:
            items, batch = payload["changes"], True
            if not isinstance(items, list):
                raise InvalidInput("changes", items, "a list of change events")
            if len(payload) > 1:
                extra = sorted(k for k in payload if k != "changes")
                raise InvalidInput(extra[0], payload[extra[0]], '{"changes": [...]} with no '
                                   "other field (put it in each change event)")
        elif isinstance(payload, Mapping):
            items, batch = [payload], False
        else:
            raise InvalidInput("body", payload, 'a change event, a list of them or '
                               '{"changes": [...]}')
        named = header(headers, DELIVERY_HEADER)
        # the events' hash, not the body's: one event, a list or {"changes": [...]} alike
        delivery = f"{named}#{content_hash(items)[:16]}" if named else content_hash(payload)
        changes: list[Change] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            where = f"changes[{index}]" if batch else ""
            try:
                change = _change(item, context)
            except InvalidInput as exc:
                raise (exc.within(where) if where else exc) from None
            if change.id in seen:
                raise InvalidInput(f"{where}.id" if where else "id", change.id,
                                   "an id not repeated in the delivery")
            seen.add(change.id)
            changes.append(change)
        reasons = [r for c in changes if (r := environment_filtered(context, c.environment))]
        kept = [c for c in changes if environment_filtered(context, c.environment) is None]
        ignored = None
        if not kept:
            ignored = join_reasons(reasons) if reasons else "the delivery holds no change event"
        return Parsed(kept, "change", delivery, ignored=ignored, raw=payload)


def _change(item: Any, context: HookContext) -> Change:
    if not isinstance(item, Mapping):
        raise InvalidInput("", item, "a JSON object (a change event)")
    default_id = "generic:" + content_hash(item)[:16]  # before any defaulting: stable
    if "environment" not in item and context.environment:
        item = {**item, "environment": context.environment}
    change = change_from_dict(item, default_id=default_id)
    if change.source is None:
        change = dataclasses.replace(change, source="generic")
    return change
