"""GitHub deployments (with their statuses) and releases to changes: the one normaliser.

Takes the plain JSON objects GitHub sends, which are the same in the REST API and in webhooks:
a deployment (``GET /repos/{o}/{r}/deployments`` item, ``deployment`` of the ``deployment`` and
``deployment_status`` events), its statuses (``GET .../statuses`` items, ``deployment_status``)
and a release (``GET .../releases`` item, ``release`` of the ``release`` event).

Deployment: id ``github:<owner/name>:deployment:<id>``. The latest status decides (by time, then
id): success or inactive -> succeeded, effective at the *first* success; failure/error -> failed;
in_progress/queued/pending -> in_progress; no status yet -> in_progress since created_at. A lone
``inactive`` (a newer deployment superseded this one; the webhook path sees it alone) says
nothing about whether it ever succeeded and is ignored. A task mentioning migrations
(``deploy:migrations``) makes kind ``migration``.

Release: id ``github:<owner/name>:release:<id>``, a deploy of ``tag_name`` at ``published_at`` to
the target's default environment; drafts, prereleases and unpublished releases are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change

from ..hooks.base import as_object, build_change, ident, login, parse_vendor_time, text
from . import Target, verb

Outcome = tuple[Change | None, str | None]

STATE = {"success": "succeeded", "inactive": "succeeded", "failure": "failed",
         "error": "failed", "in_progress": "in_progress", "queued": "in_progress",
         "pending": "in_progress"}


def deployment_change(repository: str, deployment: Mapping[str, Any],
                      statuses: Sequence[Mapping[str, Any]], target: Target) -> Outcome:
    """The change of one deployment given the statuses known (all of them from the REST list,
    the one a ``deployment_status`` event carries, or none for a ``deployment`` event);
    ``(None, reason)`` when it is not one."""
    deployment = as_object(deployment, "deployment")
    deployment_id = ident(deployment, "id", "deployment.id")
    created = parse_vendor_time(deployment.get("created_at"), "deployment.created_at")
    ordered = sorted((as_object(s, "deployment_status") for s in statuses),
                     key=lambda s: (_status_time(s), _order(s.get("id"))))
    latest = ordered[-1] if ordered else None
    if latest is None:
        state, at = "in_progress", created
    else:
        raw = text(latest, "state")
        state = STATE.get(raw or "")  # type: ignore[assignment]
        if state is None:
            return None, f"deployment status state {raw} is not handled"
        at = _status_time(latest)
        if state == "succeeded":
            first = next((s for s in ordered if text(s, "state") == "success"), None)
            if first is None:
                return None, (f"deployment {deployment_id} became inactive (superseded by a "
                              "newer deployment) with no success known")
            at = _status_time(first)
    vendor_environment = (text(latest, "environment") if latest else None) or text(
        deployment, "environment")
    environment, scope = target.place(vendor_environment)
    task = text(deployment, "task") or "deploy"
    sha, ref = text(deployment, "sha"), text(deployment, "ref")
    shown = ref if ref and ref != sha else (sha or "")[:7]
    summary = f"{verb(state)} {shown}" + (f" ({sha[:7]})" if sha and shown != sha[:7] else "")
    summary = " ".join(f"{summary} to {vendor_environment or environment}".split())
    description = text(deployment, "description")
    if description:
        summary += f": {description.splitlines()[0][:120]}"
    url = None
    if latest is not None:
        url = (text(latest, "log_url") or text(latest, "target_url")
               or text(latest, "environment_url"))
    details: dict[str, Any] = {
        "repository": repository, "deployment_id": deployment.get("id"), "sha": sha,
        "ref": ref, "task": task, "description": description,
        "environment_name": vendor_environment if vendor_environment != environment else None,
        "state": text(latest, "state") if latest else None,
        "deployment_status_id": latest.get("id") if latest else None,
        "environment_url": text(latest, "environment_url") if latest else None,
    }
    if isinstance(deployment.get("production_environment"), bool):
        details["production_environment"] = deployment["production_environment"]
    change = build_change({
        "id": f"github:{repository}:deployment:{deployment_id}",
        "kind": "migration" if "migrat" in task.lower() else "deploy",
        "service": target.service("github", repository), "environment": environment,
        "scope": scope, "at": at, "started_at": created, "version": sha or ref,
        "status": state, "summary": summary, "author": login(deployment, "creator"),
        "url": url, "source": target.source,
        "details": {k: v for k, v in details.items() if v is not None}})
    return change, None


def release_change(repository: str, release: Mapping[str, Any], target: Target) -> Outcome:
    """The change of one published release; ``(None, reason)`` for a draft, a prerelease or
    a release not published yet."""
    release = as_object(release, "release")
    release_id = ident(release, "id", "release.id")
    if release.get("draft") is True:
        return None, f"release {release_id} is a draft"
    if release.get("prerelease") is True:
        return None, f"release {release_id} is a prerelease (not taken as a deploy)"
    if not release.get("published_at"):
        return None, f"release {release_id} is not published"
    tag = text(release, "tag_name")
    if tag is None:
        raise InvalidInput("release.tag_name", release.get("tag_name"), "the release's tag")
    name = text(release, "name")
    environment, scope = target.place(None)
    change = build_change({
        "id": f"github:{repository}:release:{release_id}", "kind": "deploy",
        "service": target.service("github", repository), "environment": environment,
        "scope": scope, "at": parse_vendor_time(release["published_at"], "release.published_at"),
        "version": tag, "status": "succeeded",
        "summary": f"released {tag}" + (f": {name}" if name and name != tag else ""),
        "author": login(release, "author"), "url": text(release, "html_url"),
        "source": target.source,
        "details": {"repository": repository, "release": {k: v for k, v in {
            "id": release.get("id"), "tag": tag, "name": name,
            "target_commitish": text(release, "target_commitish")}.items() if v is not None}}})
    return change, None


def _status_time(status: Mapping[str, Any]) -> datetime:
    """When a status was reported: statuses are never edited, so created_at (else
    updated_at, which equals it)."""
    return parse_vendor_time(status.get("created_at") or status.get("updated_at"),
                             "deployment_status.created_at")


def _order(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


__all__ = ["deployment_change", "release_change"]
