"""CDEvents service events over CloudEvents HTTP (binary, structured and batch mode) or plain JSON.

Upstream: CDEvents spec v0.5.1 (https://github.com/cdevents/spec/tree/v0.5.1, "Continuous
Deployment Events": ``service`` deployed/upgraded/rolledback; ``cloudevents-binding.md``) and the
CloudEvents HTTP protocol binding (https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/http-protocol-binding.md).

Mapping: ``dev.cdevents.service.deployed.*`` and ``upgraded.*`` -> kind deploy; ``rolledback.*`` ->
kind rollback; every other CDEvent (service.removed/published, pipelines, incidents, ...) is
acknowledged and ignored with the reason. at = context.timestamp (or ``ce-time``);
environment = subject.content.environment.id, through the ``environment_map`` rules (which may
turn ``production/us-east-1`` into environment production with scope region us-east-1);
version = the artifact's purl version
(``pkg:oci/myapp@sha256:...`` -> ``sha256:...``); service = the hook mapping for the subject id,
its last path segment, the artifactId or the purl name, else the purl name (``myapp``), else the
subject id's last segment (``service/myapp`` -> ``myapp``). CloudEvents make ``source`` + ``id``
unique, so the change id is ``cdevents:<source>:<id>`` and the same pair is the delivery key.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import unquote

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change

from .base import (
    HookContext,
    Parsed,
    as_object,
    build_change,
    content_hash,
    decode_json,
    effective_environment,
    environment_filtered,
    guarded,
    header,
    join_reasons,
    map_service,
    opt_object,
    parse_vendor_time,
    text,
    verify_own_signature,
)

_SERVICE_TYPE = re.compile(r"^dev\.cdevents\.service\.(deployed|upgraded|rolledback)\.")
_PURL = re.compile(r"^pkg:[^/]+/(?:[^@?#]*/)?(?P<name>[^/@?#]+)(?:@(?P<version>[^?#]+))?")


class CDEventsParser:
    """CDEvents signed with our ``X-Rollback-Advisor-Signature``."""

    name = "cdevents"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Check ``X-Rollback-Advisor-Signature`` (CloudEvents defines no signature of its own)."""
        return verify_own_signature(headers, body, secret)

    def parse(self, headers: Mapping[str, str], body: bytes, context: HookContext) -> Parsed:
        """Normalise one delivery of one CDEvent, or a CloudEvents batch of them."""
        payload = decode_json(body)
        content_type = (header(headers, "Content-Type") or "").lower()
        if content_type.startswith("application/cloudevents-batch+json") or isinstance(payload,
                                                                                       list):
            if not isinstance(payload, list):
                raise InvalidInput("body", payload, "a JSON array of CloudEvents (batch mode)")
            results = []
            for index, item in enumerate(payload):
                try:
                    results.append(guarded("CDEvents", partial(_structured, item, context)))
                except InvalidInput as exc:
                    raise exc.within(f"[{index}]") from None
            changes = [c for parsed in results for c in parsed.changes]
            ignored = None if changes else join_reasons(
                p.ignored for p in results if p.ignored) or "empty batch"
            return Parsed(changes, "batch", content_hash(payload), ignored=ignored, raw=payload)
        if header(headers, "ce-type") or header(headers, "ce-id"):
            envelope = {"type": header(headers, "ce-type"), "id": header(headers, "ce-id"),
                        "source": header(headers, "ce-source"), "time": header(headers, "ce-time"),
                        "subject": header(headers, "ce-subject")}
            parsed = guarded("CDEvents", lambda: _event(envelope, payload, context))
        elif content_type.startswith("application/cloudevents+json") or (
                isinstance(payload, Mapping) and "specversion" in payload and "context" not in
                payload):
            parsed = guarded("CDEvents", lambda: _structured(payload, context))
        else:
            parsed = guarded("CDEvents", lambda: _event({}, payload, context))
        return Parsed(parsed.changes, parsed.event, parsed.delivery_key, parsed.ignored,
                      raw=payload)


def _structured(envelope: Any, context: HookContext) -> Parsed:
    """A CloudEvent in structured mode: attributes beside ``data`` (or ``data_base64``)."""
    envelope = as_object(envelope, "body")
    data = envelope.get("data")
    if data is None and isinstance(envelope.get("data_base64"), str):
        try:
            data = decode_json(base64.b64decode(envelope["data_base64"], validate=True))
        except (binascii.Error, ValueError):
            raise InvalidInput("data_base64", envelope["data_base64"][:40],
                               "base64-encoded JSON") from None
    if data is None:
        raise InvalidInput("data", None, "the CDEvent carried in the CloudEvent's data")
    return _event(envelope, data, context)


def _event(envelope: Mapping[str, Any], data: Any, context: HookContext) -> Parsed:
    """One CDEvent: ``data`` is the whole CDEvent (context + subject) or just its subject."""
    data = as_object(data, "data")
    cd_context = opt_object(data, "context", "context")
    subject = data.get("subject") if "subject" in data else (data if not cd_context else None)
    event_type = text(cd_context, "type") or text(envelope, "type")
    if event_type is None:
        raise InvalidInput("context.type", None, "the CDEvent type (ce-type), e.g. "
                           "dev.cdevents.service.deployed.0.3.0")
    event_id = text(cd_context, "id") or text(envelope, "id")
    if event_id is None:
        raise InvalidInput("context.id", None, "the CDEvent id (ce-id)")
    source = text(cd_context, "source") or text(envelope, "source") or ""
    key = f"{source}:{event_id}" if source else event_id
    match = _SERVICE_TYPE.match(event_type)
    if match is None:
        return Parsed([], event_type, key, ignored=(
            f"CDEvent type {event_type} is not a service deployment (only service.deployed, "
            "service.upgraded and service.rolledback are stored)"))
    subject = as_object(subject, "subject")
    content = opt_object(subject, "content", "subject.content")
    env_ref = content.get("environment")
    env_id = text(env_ref, "id") if isinstance(env_ref, Mapping) else (
        env_ref.strip() if isinstance(env_ref, str) and env_ref.strip() else None)
    artifact = text(content, "artifactId")
    purl = _PURL.match(artifact) if artifact else None
    purl_name = unquote(purl.group("name")) if purl else None
    version = unquote(purl.group("version")) if purl and purl.group("version") else None
    subject_id = text(subject, "id") or text(envelope, "subject")
    subject_tail = subject_id.rstrip("/").rsplit("/", 1)[-1] if subject_id else None
    service = (map_service(context.mapping, subject_id, subject_tail, artifact, purl_name)
               or purl_name or subject_tail)
    if not service:
        raise InvalidInput("subject.id", subject_id, "the service (subject.id or "
                           "subject.content.artifactId)")
    predicate = match.group(1)
    environment, scope = context.environments.apply(effective_environment(context, env_id))
    when = cd_context.get("timestamp") or envelope.get("time")
    change: Change = build_change({
        "id": f"cdevents:{key}", "kind": "rollback" if predicate == "rolledback" else "deploy",
        "service": service, "environment": environment, "scope": scope,
        "at": parse_vendor_time(when, "context.timestamp"), "version": version,
        "status": "succeeded",
        "summary": f"{service} {predicate} in {environment}" + (f" ({version})" if version
                                                                 else ""),
        "source": "cdevents",
        "details": {k: v for k, v in {
            "hook_id": context.hook_id, "cdevent_type": event_type, "subject_id": subject_id,
            "artifact_id": artifact, "event_source": source or None,
            "environment_source": text(env_ref, "source") if isinstance(env_ref, Mapping)
            else None, "environment_name": env_id if env_id and env_id != environment else None,
            "chain_id": text(cd_context, "chainId")}.items() if v is not None}})
    reason = environment_filtered(context, change.environment)
    if reason is not None:
        return Parsed([], event_type, key, ignored=reason)
    return Parsed([change], event_type, key)
