"""GitLab deployments and releases to changes: the one normaliser.

GitLab sends the same deployment in two shapes: the REST resource (``GET
/projects/:id/deployments`` items: ``id``, ``sha``, ``environment: {name}``, ``deployable: {...}``)
and the Deployment Hook (``deployment_id``, ``short_sha`` + ``commit_url``, ``environment``,
``status_changed_at``). ``deployment_from_api`` and ``deployment_from_hook`` only read each shape
into one ``Deployment``; ``deployment_change`` alone decides what the change is. Releases keep one
shape with renamed keys (``tag_name``/``tag``, ``_links.self``/``url``), read by ``release_change``.

Deployment: id ``gitlab:<path_with_namespace>:deployment:<deployment id>`` (the global id both
shapes carry). success -> succeeded; failed, canceled -> failed (a cancelled rollout may be
partial; a job cancelled before it started is skipped by the REST reader, which can tell);
created/running/blocked -> in_progress.

Release: id ``gitlab:<path_with_namespace>:release:<tag>``. The tag is what both shapes carry
(the REST API has no release id; the hook's numeric ``id`` is not in the API), and a project's
tags are unique. Before this, the hook derived ``...:release:<numeric id>``: see
docs/connectors.md for what happens to those stored ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change

from ..hooks.base import (
    as_object,
    build_change,
    ident,
    login,
    opt_object,
    parse_vendor_time,
    text,
)
from . import Target, verb

Outcome = tuple[Change | None, str | None]

STATUS = {"success": "succeeded", "failed": "failed", "canceled": "failed",
          "created": "in_progress", "running": "in_progress", "blocked": "in_progress"}


@dataclass(frozen=True)
class Deployment:
    """What either shape of a GitLab deployment tells; None where a shape does not say."""

    id: str
    status: str
    environment: str | None
    at: datetime
    started_at: datetime | None = None
    sha: str | None = None
    ref: str | None = None
    title: str | None = None
    author: str | None = None
    url: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def deployment_from_api(a: Mapping[str, Any]) -> Deployment | None:
    """Read a REST deployment; None for one cancelled before its job started (nothing reached
    the environment)."""
    job = opt_object(a, "deployable", "deployable")
    status = text(a, "status") or ""
    if status == "canceled" and not job.get("started_at"):
        return None
    if STATUS.get(status) == "in_progress":
        at = parse_vendor_time(a.get("updated_at"), "updated_at")
    else:
        finished = job.get("finished_at") or a.get("finished_at") or a.get("updated_at")
        at = parse_vendor_time(finished, "finished_at")
    started = job.get("started_at") or a.get("created_at")
    env = opt_object(a, "environment", "environment")
    commit = opt_object(job, "commit", "deployable.commit")
    pipeline = opt_object(job, "pipeline", "deployable.pipeline")
    return Deployment(
        id=ident(a, "id", "id") or "", status=status, environment=text(env, "name"), at=at,
        started_at=parse_vendor_time(started, "started_at") if started else None,
        sha=text(a, "sha"), ref=text(a, "ref"), title=text(commit, "title"),
        author=login(a, "user"), url=text(job, "web_url") or text(env, "external_url"),
        details={"deployable_id": job.get("id"), "environment_url": text(env, "external_url"),
                 "pipeline_url": text(pipeline, "web_url")})


def deployment_from_hook(data: Mapping[str, Any]) -> Deployment:
    """Read a Deployment Hook body."""
    short_sha, commit_url = text(data, "short_sha"), text(data, "commit_url")
    sha = short_sha
    if commit_url and short_sha:
        tail = commit_url.rstrip("/").rsplit("/", 1)[-1]
        if tail.startswith(short_sha):  # the full sha is only in the commit URL
            sha = tail
    at = parse_vendor_time(data.get("status_changed_at"), "status_changed_at")
    status = text(data, "status") or ""
    deployable = data.get("deployable_id")
    return Deployment(
        id=ident(data, "deployment_id", "deployment_id") or "", status=status,
        environment=text(data, "environment"), at=at,
        started_at=at if STATUS.get(status) == "in_progress" else None, sha=sha,
        ref=text(data, "ref"), title=text(data, "commit_title"), author=login(data, "user"),
        url=text(data, "deployable_url") or text(data, "environment_external_url"),
        details={"deployable_id": deployable if isinstance(deployable, int) else None,
                 "environment_url": text(data, "environment_external_url")})


def deployment_change(project: str, d: Deployment, target: Target) -> Outcome:
    """The change of one deployment of ``project`` (path with namespace)."""
    state = STATUS.get(d.status)
    if state is None:
        return None, f"deployment status {d.status or None} is not handled"
    environment, scope = target.place(d.environment)
    ref = d.ref or (d.sha or "")[:8]
    summary = f"{verb(state)} {ref}" + (f" ({d.sha[:8]})" if d.sha and ref != d.sha[:8]
                                        else "")
    summary = " ".join(f"{summary} to {d.environment or environment}".split())
    if d.title:
        summary += f": {d.title[:120]}"
    details = {"project": project, "deployment_id": int(d.id) if d.id.isdigit() else d.id,
               "sha": d.sha, "ref": d.ref, "state": d.status,
               "environment_name": d.environment if d.environment != environment else None,
               **d.details}
    return build_change({
        "id": f"gitlab:{project}:deployment:{d.id}", "kind": "deploy",
        "service": target.service("gitlab", project), "environment": environment,
        "scope": scope, "at": d.at, "started_at": d.started_at, "version": d.sha or d.ref,
        "status": state, "summary": summary, "author": d.author, "url": d.url,
        "source": target.source,
        "details": {k: v for k, v in details.items() if v is not None}}), None


def release_change(project: str, release: Mapping[str, Any], target: Target) -> Outcome:
    """The change of one release, from the REST resource or the Release Hook body."""
    release = as_object(release, "release")
    tag = text(release, "tag_name") or text(release, "tag")
    if tag is None:
        raise InvalidInput("tag", release.get("tag"), "the release's tag")
    when = release.get("released_at")
    if not when:
        return None, f"release {tag} has no released_at"
    name = text(release, "name")
    links = opt_object(release, "_links", "_links")
    commit = opt_object(release, "commit", "commit")
    environment, scope = target.place(None)
    return build_change({
        "id": f"gitlab:{project}:release:{tag}", "kind": "deploy",
        "service": target.service("gitlab", project), "environment": environment,
        "scope": scope, "at": parse_vendor_time(when, "released_at"), "version": tag,
        "status": "succeeded",
        "summary": f"released {tag}" + (f": {name}" if name and name != tag else ""),
        "author": login(release, "author"), "url": text(links, "self") or text(release, "url"),
        "source": target.source,
        "details": {"project": project, "release": {k: v for k, v in {
            "tag": tag, "name": name, "commit": text(commit, "id")}.items()
            if v is not None}}}), None


__all__ = ["Deployment", "deployment_change", "deployment_from_api", "deployment_from_hook",
           "release_change"]
