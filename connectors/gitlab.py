"""GitLab deployments, the merge requests they shipped, and releases, through python-gitlab.

Upstream API (GitLab.com and self-managed, REST v4):

- deployments: https://docs.gitlab.com/ee/api/deployments.html#list-project-deployments
- merge requests of a deployment:
  https://docs.gitlab.com/ee/api/deployments.html#list-of-merge-requests-associated-with-a-deployment
- compare: https://docs.gitlab.com/ee/api/repositories.html#compare-branches-tags-or-commits
- releases: https://docs.gitlab.com/ee/api/releases/#list-releases
- rate limits: https://docs.gitlab.com/ee/administration/settings/user_and_ip_rate_limits.html

One change per deployment, with id ``gitlab:<project path_with_namespace>:deployment:<id>`` (the
global deployment id, as the deployment webhook's ``deployment_id``), made by the normaliser the
webhook uses too (``connectors.objects.gitlab``), so a hook delivery and a later sync upsert one
row with the same fields. Deployments are listed by ``updated_at`` after the cursor, so one
request per project finds both new deployments and old ones whose status changed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rollback_advisor.models import Change, ChangeStatus
from rollback_advisor.timeutil import format_utc, parse_rfc3339

from .base import Batch, ConnectorUnavailable, Cursor, Progress
from .objects import Target
from .objects import gitlab as objects_gitlab
from .vcs.common import (
    REPO_PATH,
    BatchBuffer,
    PacedRetryMixin,
    Section,
    VcsConfig,
    VcsConnector,
    VendorErrors,
    fetch_each,
    first_line,
    merge_request_numbers,
    migration_files,
)

try:
    import gitlab
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3 import Retry
except ImportError as exc:  # pragma: no cover - exercised through the registry tests
    raise ConnectorUnavailable("python-gitlab is not installed: pip install 'python-gitlab>=4'",
                               library="python-gitlab") from exc

if TYPE_CHECKING:
    from connectors import ConnectorContext

SOURCE = "gitlab"
KEYS = ("url", "token", "projects", "environments", "map", "per_page", "releases",
        "merge_requests", "compare", "lookback", "timeout", "max_wait", "retries", "ssl_verify",
        "batch_size")
HISTORY = 20  # successful deployments remembered per environment, to find a previous version
# Our own urllib3 retry does the waiting (see PacedRetryMixin); python-gitlab's own loop would
# sleep again with time.sleep, uncapped, so every call turns it off.
NO_LIBRARY_RETRY: dict[str, Any] = {"obey_rate_limit": False, "retry_transient_errors": False}


@dataclass(frozen=True, kw_only=True)
class GitLabConfig(VcsConfig):
    """A validated ``connectors.gitlab`` section (see config.example.yaml for each key)."""

    projects: tuple[str, ...]
    url: str = "https://gitlab.com"
    merge_requests: bool = True

    @classmethod
    def from_section(cls, raw: Mapping[str, Any], name: str = SOURCE) -> GitLabConfig:
        s = Section(name, raw, KEYS)
        return cls(
            projects=s.texts("projects", required=True, pattern=REPO_PATH,
                             expected="group/project"),
            token=s.text("token", secret=True),
            url=(s.text("url", cls.url) or cls.url).rstrip("/"),
            merge_requests=s.flag("merge_requests", cls.merge_requests),
            **cls.shared(s),
        )


class PacedRetry(PacedRetryMixin, Retry):
    """urllib3 Retry for GitLab: 429 after ``Retry-After`` or ``RateLimit-Reset``, transient
    5xx with exponential backoff (python-gitlab's ``obey_rate_limit`` and
    ``retry_transient_errors`` semantics), waiting through the injected sleep."""


def make_client(config: GitLabConfig, context: ConnectorContext) -> gitlab.Gitlab:
    """A ``gitlab.Gitlab`` whose session retries through ``PacedRetry``."""
    retry = PacedRetry(sleep=context.sleep, max_wait=config.max_wait.total_seconds(),
                       total=config.retries, backoff_factor=0.5, raise_on_status=False,
                       status_forcelist=[429, 500, 502, 503, 504],
                       allowed_methods=["GET", "HEAD"])
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return gitlab.Gitlab(config.url, private_token=config.token, session=session,
                         per_page=config.per_page, timeout=config.timeout,
                         ssl_verify=config.ssl_verify, retry_transient_errors=False)


class GitLabErrors(VendorErrors):
    """python-gitlab's errors as one ConnectorError line naming the project."""

    @property
    def address(self) -> str:
        return str(self.config.url)

    def is_fatal(self, exc: Exception) -> bool:
        return getattr(exc, "response_code", None) == 401

    def describe_vendor(self, exc: Exception) -> str | None:
        if isinstance(exc, gitlab.exceptions.GitlabParsingError):
            return "malformed response: the server's answer is not the JSON expected"
        if isinstance(exc, gitlab.exceptions.GitlabError):
            code = exc.response_code
            text = first_line(str(exc.error_message or "no message"), 160)
            if code == 401:
                return (f"bad credentials (HTTP 401): check connectors.{self.section}.token "
                        "(a token with read_api scope)")
            if code == 404:
                return ("not found (HTTP 404): check the project path and that the token can "
                        "read it")
            if code == 429:
                return "rate limited (HTTP 429) after retries; sync again later"
            return f"HTTP {code}: {text}" if code else text
        return None


class GitLabConnector(VcsConnector):
    """Deployments (with merge requests and files shipped) and optionally releases."""

    source = SOURCE
    config_class = GitLabConfig
    config: GitLabConfig
    client: gitlab.Gitlab

    def build_client(self, config: GitLabConfig, context: ConnectorContext) -> gitlab.Gitlab:
        return make_client(config, context)

    def fetch(self, cursor: Cursor | None, progress: Progress) -> Iterator[Batch]:
        """Yield batches of new and updated deployments, project by project, oldest update
        first. A failing project is noted and the others still run (401 stops at once)."""
        state: dict[str, Any] = copy.deepcopy(dict(cursor or {}))
        state.setdefault("version", 1)
        projects = state.setdefault("projects", {})
        yield from fetch_each(
            self.config.projects,
            lambda path: GitLabErrors(f"gitlab {path}", self.config, self.name),
            lambda path: _ProjectSync(self, path, projects.setdefault(path, {}), state,
                                      progress).run())


class _ProjectSync(BatchBuffer):
    """One project's pass: new and updated deployments, releases."""

    def __init__(self, connector: GitLabConnector, path: str, ps: dict[str, Any],
                 state: dict[str, Any], progress: Progress) -> None:
        super().__init__(state, connector.config.batch_size)
        self.c = connector
        self.cfg = connector.config
        self.path = path
        self.ps = ps
        self.progress = progress

    def run(self) -> Iterator[Batch]:
        gl = self.c.client
        if "id" in self.ps:  # known from an earlier sync: no request to name the project
            self.project = gl.projects.get(self.ps["id"], lazy=True)
        else:
            self.project = gl.projects.get(self.path, **NO_LIBRARY_RETRY)
            self.ps.update(id=self.project.id, path=self.project.path_with_namespace)
        self.full_path: str = self.ps.get("path", self.path)
        self.target = Target(source=self.c.name, mapping=self.cfg.map,
                             repo_map=self.c.context.repo_map,
                             environments=self.c.context.environments,
                             default_environment=self.cfg.environments[0])
        yield from self.deployments()
        if self.cfg.releases:
            yield from self.releases()
        yield from self.rest()

    # -- deployments ------------------------------------------------------------------------

    def deployments(self) -> Iterator[Batch]:
        after = self.ps.get("updated_after") or format_utc(
            self.c.context.now() - self.cfg.lookback)
        boundary = set(self.ps.get("boundary_ids") or [])
        envs = self.cfg.environments
        query: dict[str, Any] = {"order_by": "updated_at", "sort": "asc",
                                 "updated_after": after}
        if len(envs) == 1:
            query["environment"] = envs[0]
        after_dt = parse_rfc3339(after, "updated_after")
        count = 0
        for d in self.project.deployments.list(iterator=True, **query, **NO_LIBRARY_RETRY):
            a = d.attributes
            updated = parse_rfc3339(a["updated_at"], "updated_at")
            if updated < after_dt or (updated == after_dt and a["id"] in boundary):
                continue  # the server's bound is inclusive on some versions
            count += 1
            env = (a.get("environment") or {}).get("name")
            change = self.deployment_change(d, a) if env in envs else None
            if change is None:
                self.skipped += 1
            if updated > after_dt:
                after_dt, boundary = updated, set()
                self.ps["updated_after"] = a["updated_at"]
            boundary.add(a["id"])
            self.ps["boundary_ids"] = sorted(boundary)
            if change is not None:
                yield from self.emit(change)
        if count:
            self.progress(f"gitlab {self.path}: {count} new or updated deployment(s)")

    def deployment_change(self, d: Any, a: Mapping[str, Any]) -> Change | None:
        """The normalised change (``connectors.objects.gitlab``, as the Deployment Hook makes
        it) plus what only sync knows: the version live before, the merge requests and what
        the deploy shipped."""
        facts = objects_gitlab.deployment_from_api(a)
        if facts is None:
            return None  # canceled before it ran: nothing reached the environment
        change, _ = objects_gitlab.deployment_change(self.full_path, facts, self.target)
        if change is None:
            return None
        env = a["environment"]["name"]
        history = self.ps.setdefault("environments", {}).setdefault(env, {}).setdefault(
            "successes", [])
        prev = max((h for h in history if h["id"] < a["id"]), key=lambda h: h["id"],
                   default=None)
        sha, ref = a["sha"], a.get("ref") or a["sha"][:8]
        job = a.get("deployable") or {}
        extra: dict[str, Any] = {"iid": a.get("iid")}
        if job:
            extra["job"] = {k: job.get(k) for k in ("id", "name", "stage", "status")}
        if prev:
            extra["previous_ref"] = prev.get("ref")
        if change.status is ChangeStatus.SUCCEEDED and self.cfg.merge_requests:
            extra["merge_requests"] = self.merge_requests(d)
        if self.cfg.compare and prev and prev["sha"] != sha:
            extra.update(self.shipped(prev["sha"], sha))
        if change.status is ChangeStatus.SUCCEEDED and not any(h["id"] == a["id"]
                                                               for h in history):
            history.append({"id": a["id"], "sha": sha, "ref": ref})
            history.sort(key=lambda h: h["id"])
            del history[:-HISTORY]
        return dataclasses.replace(
            change, previous_version=prev["sha"] if prev else None,
            details={**change.details, **{k: v for k, v in extra.items() if v is not None}})

    def merge_requests(self, d: Any) -> list[dict[str, Any]]:
        """Merge requests GitLab links to a successful deployment: one request."""
        found = []
        for mr in d.mergerequests.list(iterator=True, **NO_LIBRARY_RETRY):
            m = mr.attributes
            found.append({"iid": m.get("iid"), "title": first_line(m.get("title")),
                          "author": (m.get("author") or {}).get("username"),
                          "url": m.get("web_url"), "merged_at": m.get("merged_at")})
            if len(found) >= 100:
                break
        return found

    def shipped(self, base: str, head: str) -> dict[str, Any]:
        """Commits and files between two deployments: one compare request."""
        data = self.project.repository_compare(base, head, **NO_LIBRARY_RETRY)
        if not isinstance(data, Mapping):  # raw responses are only for streamed downloads
            raise TypeError("the compare answered no JSON object")
        commits = data.get("commits") or []
        files = [f.get("new_path") or f.get("old_path") for f in data.get("diffs") or []]
        files = [f for f in files if f]
        return {
            "compare_url": data.get("web_url"),
            "commits": [{"sha": c.get("id"), "author": c.get("author_name"),
                         "title": first_line(c.get("title") or c.get("message"))}
                        for c in commits],
            "merge_request_iids": merge_request_numbers(c.get("message", "") for c in commits),
            "files": files,
            "migration_files": migration_files(files),
        }

    # -- releases ---------------------------------------------------------------------------

    def releases(self) -> Iterator[Batch]:
        """Published releases as deploys to the first configured environment (off by default:
        a release that also triggers a deployment would count twice)."""
        last = self.ps.get("released_at")
        last_dt = parse_rfc3339(last, "released_at") if last else (
            self.c.context.now() - self.cfg.lookback)
        seen = set(self.ps.get("release_tags") or [])
        new = []
        for r in self.project.releases.list(iterator=True, order_by="released_at", sort="desc",
                                            **NO_LIBRARY_RETRY):
            a = r.attributes
            if not a.get("released_at"):
                continue
            when = parse_rfc3339(a["released_at"], "released_at")
            if when < last_dt:
                break
            if when == last_dt and a.get("tag_name") in seen:
                continue
            new.append((when, a))
        now = self.c.context.now()
        for when, a in reversed(new):
            if a.get("upcoming_release") or when > now:
                continue  # not out yet: it will be listed again once released
            if when > last_dt:
                last_dt, seen = when, set()
                self.ps["released_at"] = a["released_at"]
            seen.add(a["tag_name"])
            self.ps["release_tags"] = sorted(seen)
            change, _ = objects_gitlab.release_change(self.full_path, a, self.target)
            if change is None:
                self.skipped += 1
            else:
                yield from self.emit(change)


__all__ = ["GitLabConfig", "GitLabConnector", "GitLabErrors", "PacedRetry", "make_client"]
