"""GitLab webhooks: deployment, pipeline and release events.

Upstream: "Webhook events" (https://docs.gitlab.com/user/project/integrations/webhook_events/) and
"Webhooks" (https://docs.gitlab.com/user/project/integrations/webhooks/) for the delivery headers.

Mapping:

- ``Deployment Hook``: running -> in_progress (``started_at`` = ``at`` = status_changed_at),
  success -> succeeded, failed -> failed, canceled -> failed (a cancelled rollout may be partial;
  ``details.state`` keeps the word). One id per deployment id, so each status upserts it.
- ``Pipeline Hook``: only *finished* pipelines (success, failed, canceled) whose deploy jobs ran.
  A deploy job is one with an ``environment`` or whose stage or name says deploy/release/cd; one
  change per environment those jobs deployed to (status failed if any of them failed or was
  cancelled, ``at`` = the last one's finish). Running pipelines, pipelines without deploy jobs and
  pipelines whose deploy jobs were skipped or never started are ignored with the reason. Prefer
  the Deployment Hook where environments are configured; enabling both stores a deploy twice.
- ``Release Hook`` with action create: a deploy with ``details.release`` (tag, name, commit),
  version = tag, id ``gitlab:<project>:release:<tag>``; update and delete are ignored.

Deployments and releases go through ``connectors.objects.gitlab``, the normaliser ``sync`` uses
too, so a delivery and a sync of the same object make the same change (plus ``details.hook_id``).

Delivery key: ``Idempotency-Key`` (documented as kept across retries), else
``X-Gitlab-Event-UUID``, else a hash of the body.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change

from ..objects import gitlab as objects_gitlab  # a module: see connectors.objects
from .base import (
    HookContext,
    Parsed,
    as_object,
    build_change,
    content_hash,
    decode_json,
    environment_filtered,
    guarded,
    header,
    ident,
    join_reasons,
    login,
    parse_vendor_time,
    same_secret,
    text,
)

_DEPLOYMENT_STATUS = {"running": "in_progress", "success": "succeeded", "failed": "failed",
                      "canceled": "failed"}
_FINISHED_PIPELINE = ("success", "failed", "canceled")
_DEPLOYISH = re.compile(r"deploy|release|(?<![a-z])cd(?![a-z])", re.IGNORECASE)
_OBJECT_KIND_EVENT = {"deployment": "Deployment Hook", "pipeline": "Pipeline Hook",
                      "release": "Release Hook", "push": "Push Hook", "tag_push": "Tag Push Hook",
                      "build": "Job Hook", "merge_request": "Merge Request Hook"}


class GitLabParser:
    """``X-Gitlab-Event`` deliveries authenticated by ``X-Gitlab-Token``."""

    name = "gitlab"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """GitLab sends the configured secret token verbatim (no body HMAC)."""
        return same_secret(header(headers, "X-Gitlab-Token"), secret)

    def parse(self, headers: Mapping[str, str], body: bytes, context: HookContext) -> Parsed:
        """Normalise one GitLab delivery (see the module docstring for the mapping)."""
        payload = decode_json(body)
        data = as_object(payload, "body")
        event = header(headers, "X-Gitlab-Event")
        if event in (None, "System Hook"):
            # System hooks (and replays without headers) name the event only in the body.
            kind = text(data, "object_kind")
            if kind is None and event is None:
                raise InvalidInput("X-Gitlab-Event", None, "the GitLab event header (Deployment "
                                   "Hook, Pipeline Hook, Release Hook) or an object_kind")
            event = _OBJECT_KIND_EVENT.get(kind or "", event or f"{kind} event")
        delivery = (header(headers, "Idempotency-Key") or header(headers, "X-Gitlab-Event-UUID")
                    or content_hash(payload))
        handler = _HANDLERS.get(event)
        if handler is None:
            return Parsed([], event, delivery, ignored=f"event type {event} is not handled",
                          raw=payload)
        changes, reasons = guarded("GitLab", lambda: handler(data, context))
        kept = []
        for change in changes:
            reason = environment_filtered(context, change.environment)
            if reason is None:
                kept.append(change)
            else:
                reasons.append(reason)
        ignored = None if kept else join_reasons(reasons) or "no change in this event"
        return Parsed(kept, event, delivery, ignored=ignored, raw=payload)


Outcome = tuple[list[Change], list[str]]


def _project(data: Mapping[str, Any], context: HookContext) -> tuple[str, str, str | None]:
    """(path with namespace, service, web url) of the event's project."""
    project = as_object(data.get("project"), "project")
    path = text(project, "path_with_namespace")
    if path is None:
        raise InvalidInput("project.path_with_namespace", project.get("path_with_namespace"),
                           "the project's path, e.g. group/project")
    service = context.target().service("gitlab", path, text(project, "name"))
    return path, service, text(project, "web_url")


def _on_deployment(data: Mapping[str, Any], context: HookContext) -> Outcome:
    path, _, _ = _project(data, context)
    change, ignored = objects_gitlab.deployment_change(
        path, objects_gitlab.deployment_from_hook(data), context.target())
    return _with_hook(change, context), [ignored] if ignored else []


def _with_hook(change: Change | None, context: HookContext) -> list[Change]:
    """The normalised change with the hook it arrived on in ``details.hook_id``."""
    if change is None:
        return []
    return [dataclasses.replace(change, details={**change.details, "hook_id": context.hook_id})]


def _job_environment(job: Mapping[str, Any]) -> tuple[bool, str | None]:
    """(has an environment that is deployed to, its name) for a pipeline job."""
    env = job.get("environment")
    if isinstance(env, Mapping):
        if text(env, "action") in ("stop", "prepare", "verify", "access"):
            return False, None  # these touch an environment without deploying to it
        return True, text(env, "name")
    return False, None


def _on_pipeline(data: Mapping[str, Any], context: HookContext) -> Outcome:
    attrs = as_object(data.get("object_attributes"), "object_attributes")
    pipeline_id = ident(attrs, "id", "object_attributes.id")
    status = text(attrs, "status")
    if status not in _FINISHED_PIPELINE:
        return [], [f"pipeline {pipeline_id} is {status}; only finished pipelines are stored"]
    builds = data.get("builds") or []
    if not isinstance(builds, list):
        raise InvalidInput("builds", builds, "a list of the pipeline's jobs")
    deploy_jobs = []
    for index, raw_job in enumerate(builds):
        job = as_object(raw_job, f"builds[{index}]")
        has_env, env_name = _job_environment(job)
        stage, name = text(job, "stage") or "", text(job, "name") or ""
        if has_env or _DEPLOYISH.search(stage) or _DEPLOYISH.search(name):
            deploy_jobs.append((job, env_name))
    if not deploy_jobs:
        stages = attrs.get("stages")
        shown = ", ".join(s for s in stages if isinstance(s, str)) if isinstance(stages, list) \
            else ""
        return [], [f"pipeline {pipeline_id} has no deploy job (stages: {shown or 'none'})"]
    ran = [(job, env) for job, env in deploy_jobs
           if text(job, "status") in ("success", "failed")
           or (text(job, "status") == "canceled" and job.get("started_at"))]
    if not ran:
        shown = ", ".join(f"{text(j, 'name')}: {text(j, 'status')}" for j, _ in deploy_jobs)
        return [], [f"pipeline {pipeline_id} ran no deploy job ({shown})"]
    path, service, web_url = _project(data, context)
    groups: dict[str | None, list[Mapping[str, Any]]] = {}
    for job, env in ran:
        groups.setdefault(env, []).append(job)
    url = text(attrs, "url") or (f"{web_url}/-/pipelines/{pipeline_id}" if web_url else None)
    finished = parse_vendor_time(attrs["finished_at"], "object_attributes.finished_at") \
        if attrs.get("finished_at") else None
    changes = []
    for env, jobs in groups.items():
        ends = [_time(j, "finished_at", index) for index, j in enumerate(jobs)]
        starts = [_time(j, "started_at", index) for index, j in enumerate(jobs)]
        at = max((t for t in ends if t), default=finished)
        if at is None:
            raise InvalidInput("object_attributes.finished_at", None, "the time a finished "
                               "pipeline finished")
        failed = any(text(j, "status") != "success" for j in jobs)
        environment, scope = context.target().place(env)
        changes.append(build_change({
            "id": f"gitlab:{path}:pipeline:{pipeline_id}" + (f":{env}" if env else ""),
            "kind": "deploy", "service": service, "environment": environment, "scope": scope,
            "at": at,
            "started_at": min((t for t in starts if t), default=None),
            "version": text(attrs, "sha") or text(attrs, "ref"),
            "status": "failed" if failed else "succeeded",
            "summary": f"pipeline {pipeline_id} of {path} deployed {text(attrs, 'ref') or ''} "
                       f"to {env or environment}: {'failed' if failed else 'succeeded'}",
            "author": login(data, "user"), "url": url, "source": "gitlab",
            "details": {"hook_id": context.hook_id, "project": path,
                        "pipeline_id": pipeline_id, "pipeline_status": status,
                        "ref": text(attrs, "ref"),
                        "jobs": [{"name": text(j, "name"), "stage": text(j, "stage"),
                                  "status": text(j, "status")} for j in jobs]}}))
    return changes, []


def _time(job: Mapping[str, Any], key: str, index: int) -> datetime | None:
    value = job.get(key)
    return parse_vendor_time(value, f"builds[{index}].{key}") if value else None


def _on_release(data: Mapping[str, Any], context: HookContext) -> Outcome:
    action = text(data, "action")
    if action != "create":
        return [], [f"release action {action} does not deploy anything"]
    path, _, _ = _project(data, context)
    change, ignored = objects_gitlab.release_change(path, data, context.target())
    return _with_hook(change, context), [ignored] if ignored else []


_HANDLERS = {"Deployment Hook": _on_deployment, "Pipeline Hook": _on_pipeline,
             "Release Hook": _on_release}
