"""GitHub webhooks: deployments, deployment statuses, releases and deploy workflow runs.

Upstream: "Webhook events and payloads" (https://docs.github.com/en/webhooks/webhook-events-and-payloads)
and "Validating webhook deliveries" (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).

Mapping (one change id per deployment, so later statuses upsert the same record). Deployments
and releases go through ``connectors.objects.github``, the normaliser ``sync`` uses too, so a
delivery and a sync of the same object make the same change (plus ``details.hook_id`` here):

- ``deployment`` (created): deploy ``in_progress``, ``started_at`` = ``at`` = deployment.created_at.
- ``deployment_status``: success -> succeeded, failure/error -> failed,
  in_progress/queued/pending -> in_progress, at = the status's created_at,
  started_at = deployment.created_at; inactive (superseded by a newer deployment) is ignored.
- ``release`` published/released/created: a deploy with ``details.release`` (tag, name, ...) and
  version = tag_name (for teams that deploy on release); drafts, prereleases, edits and deletions
  are ignored.
- ``workflow_run`` completed, only when the workflow's name or path says deploy/release/cd and the
  conclusion says something ran (success -> succeeded; failure/timed_out/startup_failure/cancelled
  -> failed); every other run is ignored with the reason.
- ``ping`` and any other event are acknowledged and ignored.

A deployment whose task mentions migrations (``deploy:migrations``) is stored as kind migration.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change

from ..objects import github as objects_github  # a module: see connectors.objects
from .base import (
    HookContext,
    Parsed,
    as_object,
    build_change,
    decode_json,
    environment_filtered,
    guarded,
    header,
    ident,
    login,
    opt_object,
    parse_vendor_time,
    text,
    verify_prefixed_hmac,
)

_STATUS = {"success": "succeeded", "failure": "failed", "error": "failed",
           "in_progress": "in_progress", "queued": "in_progress", "pending": "in_progress"}
_RUN_CONCLUSION = {"success": "succeeded", "failure": "failed", "timed_out": "failed",
                   "startup_failure": "failed", "cancelled": "failed"}
_DEPLOYISH = re.compile(r"deploy|release|(?<![a-z])cd(?![a-z])", re.IGNORECASE)
_RELEASE_ACTIONS = ("published", "released", "created")


class GitHubParser:
    """``X-GitHub-Event`` deliveries signed with ``X-Hub-Signature-256``."""

    name = "github"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """Check ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>``."""
        return verify_prefixed_hmac(header(headers, "X-Hub-Signature-256"), body, secret,
                                    "sha256=")

    def parse(self, headers: Mapping[str, str], body: bytes, context: HookContext) -> Parsed:
        """Normalise one GitHub delivery (see the module docstring for the mapping)."""
        event = header(headers, "X-GitHub-Event")
        if event is None:
            raise InvalidInput("X-GitHub-Event", None, "the GitHub event name header "
                               "(deployment, deployment_status, release, workflow_run, ping)")
        payload = _decode(headers, body)
        delivery = header(headers, "X-GitHub-Delivery")

        def done(changes: list[Change] | None = None, ignored: str | None = None) -> Parsed:
            return Parsed(changes=changes or [], event=event, delivery_key=delivery,
                          ignored=ignored, raw=payload)

        if event == "ping":
            return done(ignored="ping")
        handler = _HANDLERS.get(event)
        if handler is None:
            return done(ignored=f"event type {event} is not handled")
        data = as_object(payload, "body")
        change, ignored = guarded("GitHub", lambda: handler(data, context))
        if change is not None and ignored is None:
            ignored = environment_filtered(context, change.environment)
        if ignored is not None:
            return done(ignored=ignored)
        return done([change] if change is not None else [])


def _decode(headers: Mapping[str, str], body: bytes) -> Any:
    """JSON, or the ``payload=`` form field GitHub sends when the hook is form-encoded."""
    content_type = (header(headers, "Content-Type") or "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            form = parse_qs(bytes(body).decode("utf-8"), strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput("body", None, "a UTF-8 form with a payload field") from None
        values = form.get("payload")
        if not values:
            raise InvalidInput("payload", None, "the payload form field GitHub sends for "
                               "form-encoded webhooks")
        return decode_json(values[0])
    return decode_json(body)


Outcome = tuple[Change | None, str | None]


def _repository(data: Mapping[str, Any], context: HookContext) -> tuple[str, str, str | None]:
    """(full name, service, html url) of the delivery's repository."""
    repo = data.get("repository")
    if repo is None:
        raise InvalidInput("repository", None, "the repository object GitHub sends with this "
                           "event")
    repo = as_object(repo, "repository")
    name = text(repo, "name")
    full_name = text(repo, "full_name") or name
    if full_name is None:
        raise InvalidInput("repository.full_name", repo.get("full_name"), "the repository's "
                           "owner/name")
    return full_name, context.target().service("github", full_name), text(repo, "html_url")


def _deployment(data: Mapping[str, Any], context: HookContext,
                status: Mapping[str, Any] | None) -> Outcome:
    full_name, _, _ = _repository(data, context)
    change, ignored = objects_github.deployment_change(
        full_name, as_object(data.get("deployment"), "deployment"),
        [] if status is None else [status], context.target())
    return _with_hook(change, context), ignored


def _with_hook(change: Change | None, context: HookContext) -> Change | None:
    """The normalised change with the hook it arrived on in ``details.hook_id``."""
    if change is None:
        return None
    return dataclasses.replace(change, details={**change.details, "hook_id": context.hook_id})


def _on_deployment(data: Mapping[str, Any], context: HookContext) -> Outcome:
    return _deployment(data, context, None)


def _on_deployment_status(data: Mapping[str, Any], context: HookContext) -> Outcome:
    status = as_object(data.get("deployment_status"), "deployment_status")
    return _deployment(data, context, status)


def _on_release(data: Mapping[str, Any], context: HookContext) -> Outcome:
    action = text(data, "action")
    release = as_object(data.get("release"), "release")
    release_id = ident(release, "id", "release.id")
    if action == "prereleased":
        return None, f"release {release_id} is a prerelease (not taken as a deploy)"
    if action not in _RELEASE_ACTIONS:
        return None, f"release action {action} does not deploy anything"
    full_name, _, _ = _repository(data, context)
    change, ignored = objects_github.release_change(full_name, release, context.target())
    return _with_hook(change, context), ignored


def _on_workflow_run(data: Mapping[str, Any], context: HookContext) -> Outcome:
    run = as_object(data.get("workflow_run"), "workflow_run")
    run_id = ident(run, "id", "workflow_run.id")
    workflow = opt_object(data, "workflow", "workflow")
    name = text(run, "name") or text(workflow, "name") or ""
    path = text(run, "path") or text(workflow, "path") or ""
    status, conclusion = text(run, "status"), text(run, "conclusion")
    if status != "completed":
        return None, f"workflow run {run_id} is {status or 'not completed'}; only completed runs "\
                     "are stored"
    if not _DEPLOYISH.search(name) and not _DEPLOYISH.search(path):
        return None, (f"workflow {name or path or run_id} does not look like a deploy (its name or "
                      "path has no deploy, release or cd)")
    state = _RUN_CONCLUSION.get(conclusion or "")
    if state is None:
        return None, f"workflow run {run_id} concluded {conclusion}: nothing was deployed"
    full_name, service, _ = _repository(data, context)
    at = parse_vendor_time(run.get("updated_at"), "workflow_run.updated_at")
    started = run.get("run_started_at")
    environment, scope = context.target().place(None)
    change = build_change({
        "id": f"github:{full_name}:workflow_run:{run_id}", "kind": "deploy",
        "service": service, "environment": environment, "scope": scope, "at": at,
        "started_at": parse_vendor_time(started, "workflow_run.run_started_at")
        if started else None,
        "version": text(run, "head_sha"), "status": state,
        "summary": f"workflow {name or path} on {full_name} {conclusion}",
        "author": login(run, "triggering_actor") or login(run, "actor") or login(data, "sender"),
        "url": text(run, "html_url"), "source": "github",
        "details": {k: v for k, v in {
            "hook_id": context.hook_id, "repository": full_name, "workflow_run_id": run_id,
            "workflow": name or None, "path": path or None, "conclusion": conclusion,
            "head_branch": text(run, "head_branch"), "event": text(run, "event"),
            "run_attempt": run.get("run_attempt") if isinstance(run.get("run_attempt"), int)
            else None}.items() if v is not None}})
    return change, None


_HANDLERS = {"deployment": _on_deployment, "deployment_status": _on_deployment_status,
             "release": _on_release, "workflow_run": _on_workflow_run}
