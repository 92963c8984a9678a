"""GitHub deployments, releases and the commits they shipped, through PyGithub.

Upstream API (REST v3, also GitHub Enterprise Server at ``https://HOST/api/v3``):

- deployments: https://docs.github.com/en/rest/deployments/deployments#list-deployments
- statuses: https://docs.github.com/en/rest/deployments/statuses#list-deployment-statuses
- compare: https://docs.github.com/en/rest/commits/commits#compare-two-commits
- releases: https://docs.github.com/en/rest/releases/releases#list-releases
- rate limits: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api

One change per deployment, with id ``github:<repository full_name>:deployment:<id>``, the very id
the webhook parser derives for the same deployment, so a hook delivery and a later sync upsert one
row. Cost of a sync with nothing new: one request per repository (plus one per release list when
``releases: true``, plus one per deployment still in progress at the last sync).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rollback_advisor.models import Change, ChangeKind, ChangeStatus, change_from_dict
from rollback_advisor.timeutil import format_utc

from .base import Batch, ConnectorUnavailable, Cursor, Progress
from .vcs.common import (
    REPO_PATH,
    BatchBuffer,
    PacedRetryMixin,
    Section,
    VcsConfig,
    VcsConnector,
    VendorErrors,
    as_utc,
    fetch_each,
    first_line,
    migration_files,
    pull_request_numbers,
    service_for,
)

try:
    import github
    from github import Auth, GithubException, GithubRetry
    from github.GithubObject import NotSet
except ImportError as exc:  # pragma: no cover - exercised through the registry tests
    raise ConnectorUnavailable("PyGithub is not installed: pip install 'PyGithub>=2.1,<3'",
                               library="PyGithub") from exc

if TYPE_CHECKING:
    from connectors import ConnectorContext

SOURCE = "github"
KEYS = ("base_url", "token", "repos", "environments", "map", "per_page", "releases", "compare",
        "lookback", "timeout", "max_wait", "retries", "ssl_verify", "batch_size")
SUCCEEDED = {"success": ChangeStatus.SUCCEEDED, "inactive": ChangeStatus.SUCCEEDED}
FAILED = {"failure", "error"}
IN_PROGRESS = {"in_progress", "queued", "pending"}
PENDING_LIMIT = 200  # unfinished deployments re-checked per repository; beyond: dropped, noted


@dataclass(frozen=True, kw_only=True)
class GitHubConfig(VcsConfig):
    """A validated ``connectors.github`` section (see config.example.yaml for each key)."""

    repos: tuple[str, ...]
    base_url: str = "https://api.github.com"

    @classmethod
    def from_section(cls, raw: Mapping[str, Any], name: str = SOURCE) -> GitHubConfig:
        s = Section(name, raw, KEYS)
        return cls(
            repos=s.texts("repos", required=True, pattern=REPO_PATH, expected="owner/name"),
            token=s.text("token", secret=True),
            base_url=(s.text("base_url", cls.base_url) or cls.base_url).rstrip("/"),
            **cls.shared(s),
        )


class PacedGithubRetry(PacedRetryMixin, GithubRetry):
    """PyGithub's ``GithubRetry`` (tells a rate-limit 403 from a permission 403 by its body)
    with waits through the injected sleep and capped at ``max_wait``."""


def make_client(config: GitHubConfig, context: ConnectorContext) -> github.Github:
    """A ``github.Github`` for this section: token auth, paced retries, no client-side
    throttle (reads are serial; the retry honours the server's own limits), lazy objects so
    that naming a repository costs no request."""
    retry = PacedGithubRetry(
        sleep=context.sleep, max_wait=config.max_wait.total_seconds(), total=config.retries,
        backoff_factor=1.0, raise_on_status=False, max_rate_limit_wait=None,
        status_forcelist=[429, 500, 502, 503, 504])
    return github.Github(
        base_url=config.base_url, auth=Auth.Token(config.token) if config.token else None,
        per_page=config.per_page, timeout=int(config.timeout), retry=retry,
        seconds_between_requests=None, seconds_between_writes=None, lazy=True,
        verify=config.ssl_verify)


class GitHubErrors(VendorErrors):
    """PyGithub's errors as one ConnectorError line naming the repository."""

    malformed = (*VendorErrors.malformed, github.BadAttributeException)

    @property
    def address(self) -> str:
        return str(self.config.base_url)

    def is_fatal(self, exc: Exception) -> bool:
        return isinstance(exc, github.BadCredentialsException)

    def describe_vendor(self, exc: Exception) -> str | None:
        if isinstance(exc, github.BadCredentialsException):
            return (f"bad credentials (HTTP 401): check connectors.{self.section}.token "
                    "(a token with repo and deployment read access)")
        if isinstance(exc, github.RateLimitExceededException):
            reset = (exc.headers or {}).get("x-ratelimit-reset", "")
            when = (format_utc(datetime.fromtimestamp(int(reset), UTC))
                    if str(reset).isdigit() else "later")
            return f"rate limit exceeded (HTTP {exc.status}); it resets at {when}"
        if isinstance(exc, github.UnknownObjectException):
            return ("not found (HTTP 404): check the repository name and that the token can "
                    "read it")
        if isinstance(exc, GithubException):
            data = exc.data if isinstance(exc.data, Mapping) else {}
            text = str(data.get("message") or exc.message or "no message")
            if text.startswith("Cannot complete object"):  # PyGithub's, for a partial record
                return "malformed response (a record without the fields the API documents)"
            return f"HTTP {exc.status}: {first_line(text)}"
        return None


class GitHubConnector(VcsConnector):
    """Deployments (with statuses and what they shipped) and optionally releases of repos."""

    source = SOURCE
    config_class = GitHubConfig
    config: GitHubConfig
    client: github.Github

    def build_client(self, config: GitHubConfig, context: ConnectorContext) -> github.Github:
        return make_client(config, context)

    # -- the ChangeSource contract --------------------------------------------------------

    def fetch(self, cursor: Cursor | None, progress: Progress) -> Iterator[Batch]:
        """Yield batches of new and updated deployments, oldest first, repository by repository.

        A repository that fails is noted and the others still run; the source then raises one
        ConnectorError naming every failed repository (bad credentials stop at once).
        """
        state: dict[str, Any] = copy.deepcopy(dict(cursor or {}))
        state.setdefault("version", 1)
        repos_state = state.setdefault("repos", {})
        yield from fetch_each(
            self.config.repos,
            lambda repo: GitHubErrors(f"github {repo}", self.config, self.name),
            lambda repo: _RepoSync(self, repo, repos_state.setdefault(repo, {}), state,
                                   progress).run())


class _RepoSync(BatchBuffer):
    """One repository's pass: new deployments, pending ones, releases."""

    def __init__(self, connector: GitHubConnector, repo: str, repo_state: dict[str, Any],
                 state: dict[str, Any], progress: Progress) -> None:
        super().__init__(state, connector.config.batch_size)
        self.c = connector
        self.cfg = connector.config
        self.repo_name = repo
        self.rs = repo_state
        self.progress = progress
        self.repo = connector.client.get_repo(repo)
        self.full_name: str = repo_state.get("full_name", repo)

    def run(self) -> Iterator[Batch]:
        yield from self.pending()
        yield from self.deployments()
        if self.cfg.releases:
            yield from self.releases()
        yield from self.rest()

    # -- deployments ------------------------------------------------------------------------

    def deployments(self) -> Iterator[Batch]:
        last_id = self.rs.get("last_deployment_id")
        cutoff = self.c.context.now() - self.cfg.lookback
        envs = self.cfg.environments
        # One environment: let the server filter. Several: one unfiltered list, so that a sync
        # with nothing new still costs a single request per repository.
        listing = self.repo.get_deployments(environment=envs[0] if len(envs) == 1 else NotSet)
        new = []
        for d in listing:
            if last_id is not None and d.id <= last_id:
                break
            if last_id is None and as_utc(d.created_at) < cutoff:  # type: ignore[operator]
                break
            new.append(d)
        if not new:
            return
        self.progress(f"github {self.repo_name}: {len(new)} new deployment(s)")
        for d in reversed(new):  # oldest first, so that a saved cursor never skips one
            self.full_name = _full_name(d.repository_url, self.full_name)
            self.rs["full_name"] = self.full_name
            # The cursor moves before the change is handed over: a batch's cursor must cover
            # every change in it, or the last one would be fetched again next time.
            self.rs["last_deployment_id"] = d.id
            if d.environment in envs:
                yield from self.emit(self.deployment_change(d))
            else:
                self.skipped += 1

    def deployment_change(self, d: Any) -> Change:
        statuses = list(d.get_statuses())
        status, at, latest = _status_of(statuses, as_utc(d.created_at))
        env_state = self.rs.setdefault("environments", {}).setdefault(d.environment, {})
        prev_sha = env_state.get("success_sha")
        details: dict[str, Any] = {
            "deployment_id": d.id, "sha": d.sha, "ref": d.ref, "task": d.task,
            "state": latest.state if latest else None,
        }
        if d.description:
            details["description"] = d.description
        if prev_sha:
            details["previous_ref"] = env_state.get("success_ref")
        if self.cfg.compare and prev_sha and prev_sha != d.sha:
            details.update(self.shipped(prev_sha, d.sha))
        change = self.build(d, status, at, prev_sha, details, latest)
        if status is ChangeStatus.SUCCEEDED and d.id > env_state.get("success_id", 0):
            env_state.update(success_id=d.id, success_sha=d.sha, success_ref=d.ref)
        if status is ChangeStatus.IN_PROGRESS:
            self.remember_pending(d.id, change)
        return change

    def build(self, d: Any, status: ChangeStatus, at: datetime, prev_sha: str | None,
              details: dict[str, Any], latest: Any) -> Change:
        created = as_utc(d.created_at)
        ref = d.ref if d.ref != d.sha else d.sha[:7]
        verb = {"succeeded": "deployed", "failed": "failed to deploy",
                "in_progress": "deploying"}[status.value]
        summary = f"{verb} {ref} ({d.sha[:7]}) to {d.environment}"
        if d.description:
            summary += f": {first_line(d.description, 120)}"
        url = None
        if latest is not None:
            url = latest.log_url or latest.target_url or latest.environment_url
        doc: dict[str, Any] = {
            "id": f"github:{self.full_name}:deployment:{d.id}", "kind": ChangeKind.DEPLOY.value,
            "service": self.service(), "environment": d.environment, "at": format_utc(at),
            "started_at": format_utc(created) if created and created <= at else None,
            "version": d.sha, "previous_version": prev_sha, "status": status.value,
            "summary": summary, "author": d.creator.login if d.creator else None,
            "url": url, "source": self.c.name, "details": details,
        }
        return change_from_dict({k: v for k, v in doc.items() if v is not None})

    def service(self) -> str:
        return service_for("github", self.full_name, self.cfg.map, self.c.context.repo_map)

    def shipped(self, base: str, head: str) -> dict[str, Any]:
        """Commits, pull requests and files between two deployments: one compare request."""
        comparison = self.repo.compare(base, head)
        data = comparison.raw_data
        commits = data.get("commits") or []
        files = [f["filename"] for f in data.get("files") or [] if f.get("filename")]
        out: dict[str, Any] = {
            "compare_url": data.get("html_url"),
            "total_commits": data.get("total_commits", len(commits)),
            "commits": [_commit(c) for c in commits],
            "pull_requests": pull_request_numbers(
                (c.get("commit") or {}).get("message", "") for c in commits),
            "files": files,
            "migration_files": migration_files(files),
        }
        if len(commits) < out["total_commits"]:
            out["commits_truncated"] = True
        return out

    # -- deployments that were unfinished at the last sync ----------------------------------

    def remember_pending(self, deployment_id: int, change: Change) -> None:
        pending = self.rs.setdefault("pending", {})
        pending[str(deployment_id)] = change.to_dict()
        if len(pending) > PENDING_LIMIT:
            oldest = min(pending, key=int)
            del pending[oldest]
            self.notes.append(f"github {self.repo_name}: stopped following deployment {oldest}"
                              " (too many unfinished)")

    def pending(self) -> Iterator[Batch]:
        pending: dict[str, Any] = self.rs.get("pending") or {}
        cutoff = self.c.context.now() - self.cfg.lookback
        for key in sorted(pending, key=int):
            doc = pending[key]
            statuses = list(self.repo.get_deployment(int(key)).get_statuses())
            old = change_from_dict(doc)
            status, at, latest = _status_of(statuses, old.started_at or old.at)
            if status is ChangeStatus.IN_PROGRESS:
                if old.at < cutoff:
                    del pending[key]
                    self.notes.append(f"github {self.repo_name}: deployment {key} unfinished "
                                      f"after {self.cfg.lookback}; no longer followed")
                continue
            del pending[key]
            doc = dict(doc, status=status.value, at=format_utc(at))
            doc["details"] = dict(doc.get("details") or {},
                                  state=latest.state if latest else None)
            if latest is not None and (latest.log_url or latest.target_url):
                doc["url"] = latest.log_url or latest.target_url
            doc["summary"] = doc.get("summary", "").replace(
                "deploying", "deployed" if status is ChangeStatus.SUCCEEDED
                else "failed to deploy", 1)
            env_state = self.rs.setdefault("environments", {}).setdefault(
                doc["environment"], {})
            if status is ChangeStatus.SUCCEEDED and int(key) > env_state.get("success_id", 0):
                details = doc["details"]
                env_state.update(success_id=int(key), success_sha=details.get("sha"),
                                 success_ref=details.get("ref"))
            yield from self.emit(change_from_dict(doc))

    # -- releases ---------------------------------------------------------------------------

    def releases(self) -> Iterator[Batch]:
        """Published releases as deploys to the first configured environment, for teams whose
        release *is* the deploy; off by default so a release that also triggers a deployment
        is not counted twice."""
        last_id = self.rs.get("last_release_id")
        cutoff = self.c.context.now() - self.cfg.lookback
        new = []
        for r in self.repo.get_releases():
            if last_id is not None and r.id <= last_id:
                break
            published = as_utc(r.published_at)
            if last_id is None and published is not None and published < cutoff:
                break
            new.append(r)
        for r in reversed(new):
            self.rs["last_release_id"] = max(r.id, self.rs.get("last_release_id") or 0)
            self.full_name = _full_name(r.url.split("/releases/")[0], self.full_name)
            if r.draft or r.published_at is None:
                self.skipped += 1
                continue
            doc = {
                "id": f"github:{self.full_name}:release:{r.id}", "kind": "deploy",
                "service": self.service(), "environment": self.cfg.environments[0],
                "at": format_utc(as_utc(r.published_at)),  # type: ignore[arg-type]
                "version": r.tag_name, "status": "succeeded",
                "summary": f"released {r.tag_name}" + (f": {r.name}" if r.name else ""),
                "author": r.author.login if r.author else None, "url": r.html_url,
                "source": self.c.name,
                "details": {"release": {"id": r.id, "tag": r.tag_name, "name": r.name,
                                        "prerelease": r.prerelease,
                                        "target_commitish": r.target_commitish}},
            }
            yield from self.emit(change_from_dict({k: v for k, v in doc.items()
                                                   if v is not None}))


def _status_of(statuses: list[Any], created: datetime | None
               ) -> tuple[ChangeStatus, datetime, Any]:
    """Status, effective time and latest status object of a deployment.

    The latest status decides (statuses arrive newest first, but ordering by time and id does
    not rely on it). A success is effective at its *first* success status (a later
    ``inactive`` only means a newer deployment replaced it); no status at all means the
    deployment was created and nothing reported yet: in progress.
    """
    ordered = sorted(statuses, key=lambda s: (as_utc(s.created_at), s.id))
    if not ordered:
        return ChangeStatus.IN_PROGRESS, created, None  # type: ignore[return-value]
    latest = ordered[-1]
    state = latest.state
    if state in SUCCEEDED:
        first = next((s for s in ordered if s.state == "success"), latest)
        return ChangeStatus.SUCCEEDED, as_utc(first.created_at), latest  # type: ignore[return-value]
    if state in FAILED:
        return ChangeStatus.FAILED, as_utc(latest.created_at), latest  # type: ignore[return-value]
    return ChangeStatus.IN_PROGRESS, as_utc(latest.created_at), latest  # type: ignore[return-value]


def _commit(c: Mapping[str, Any]) -> dict[str, Any]:
    commit = c.get("commit") or {}
    author = (c.get("author") or {}).get("login") or (commit.get("author") or {}).get("name")
    return {"sha": c.get("sha"), "author": author,
            "title": first_line(commit.get("message"))}


def _full_name(repository_url: str | None, fallback: str) -> str:
    """``owner/name`` as GitHub spells it, from ``.../repos/owner/name`` (what hooks see)."""
    if repository_url and "/repos/" in repository_url:
        return repository_url.split("/repos/", 1)[1].strip("/")
    return fallback


__all__ = ["GitHubConfig", "GitHubConnector", "GitHubErrors", "PacedGithubRetry",
           "make_client"]
