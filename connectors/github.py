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
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import Change, ChangeStatus
from rollback_advisor.timeutil import format_utc, parse_rfc3339

from .base import Batch, ConnectorUnavailable, Cursor, Progress
from .objects import Target
from .objects import github as objects_github
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
    migration_files,
    pull_request_numbers,
)

try:
    import github
    from github import Auth, Consts, GithubException, GithubRetry
    from github.PaginatedList import PaginatedList
except ImportError as exc:  # pragma: no cover - exercised through the registry tests
    raise ConnectorUnavailable("PyGithub is not installed: pip install 'PyGithub>=2.1,<3'",
                               library="PyGithub") from exc

if TYPE_CHECKING:
    from connectors import ConnectorContext

SOURCE = "github"
KEYS = ("base_url", "token", "repos", "environments", "map", "per_page", "releases", "compare",
        "lookback", "timeout", "max_wait", "retries", "ssl_verify", "batch_size")
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


class _Json(dict[str, Any]):
    """A list item as the plain JSON object the list response carried.

    PyGithub's own objects complete themselves lazily: reading an attribute the list item lacks
    (or ``raw_data``, which always completes a partial object) fetches the object's own ``url``:
    one more request per object, and a 404 there (a proxy or fake serving lists only) failed the
    whole sync (PyGithub issues #2202 and #1316: list items are never marked complete). A plain
    dict never asks for more; PyGithub still pages, retries and reports errors for us.
    """

    def __init__(self, requester: Any, headers: Any, attributes: dict[str, Any]) -> None:
        super().__init__(attributes)


def _listing(client: github.Github, url: str, params: dict[str, Any] | None = None,
             accept: str | None = None) -> PaginatedList[_Json]:  # type: ignore[type-var]
    # PaginatedList only calls contentClass(requester, headers, attributes) on each item; its
    # type hints ask for a GithubObject, which is exactly what must not be built here.
    return PaginatedList(_Json, client.requester, url, params,  # type: ignore[type-var]
                         headers={"Accept": accept} if accept else None)


DEPLOYMENT_ACCEPT = ", ".join([Consts.deploymentEnhancementsPreview,
                               Consts.deploymentStatusEnhancementsPreview])
# Details the normaliser writes (the rest of an old pending change document is sync's own).
_NORMALISED = frozenset({"deployment_id", "sha", "ref", "task", "state", "description"})
# What a pending deployment keeps in the cursor: the fields the normaliser reads.
_KEPT = ("id", "sha", "ref", "task", "environment", "description", "created_at", "creator",
         "repository_url", "url", "production_environment")


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
        self.repo = connector.client.get_repo(repo)  # lazy: no request
        self.api = self.repo.url
        self.full_name: str = repo_state.get("full_name", repo)
        self.target = Target(source=connector.name, mapping=self.cfg.map,
                             repo_map=connector.context.repo_map,
                             environments=connector.context.environments,
                             default_environment=self.cfg.environments[0])

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
        query = {"environment": envs[0]} if len(envs) == 1 else None
        new = []
        for d in _listing(self.c.client, f"{self.api}/deployments", query, DEPLOYMENT_ACCEPT):
            deployment_id = _int(d, "id")
            if last_id is not None and deployment_id <= last_id:
                break
            if last_id is None and parse_rfc3339(d.get("created_at"), "created_at") < cutoff:
                break
            new.append(d)
        if not new:
            return
        self.progress(f"github {self.repo_name}: {len(new)} new deployment(s)")
        for d in reversed(new):  # oldest first, so that a saved cursor never skips one
            self.full_name = _full_name(d.get("repository_url"), self.full_name)
            self.rs["full_name"] = self.full_name
            # The cursor moves before the change is handed over: a batch's cursor must cover
            # every change in it, or the last one would be fetched again next time.
            self.rs["last_deployment_id"] = d["id"]
            change = self.deployment_change(d) if d.get("environment") in envs else None
            if change is None:
                self.skipped += 1
            else:
                yield from self.emit(change)

    def statuses(self, d: Mapping[str, Any]) -> list[_Json]:
        """All statuses of deployment ``d``, under its own ``url`` as PyGithub asks (else the
        documented address): one request for up to ``per_page`` statuses."""
        own = d.get("url")
        url = f"{own}/statuses" if own else f"{self.api}/deployments/{d['id']}/statuses"
        return list(_listing(self.c.client, str(url), accept=DEPLOYMENT_ACCEPT))

    def deployment_change(self, d: Mapping[str, Any], statuses: list[_Json] | None = None,
                          known: Mapping[str, Any] | None = None) -> Change | None:
        """The normalised change (``connectors.objects.github``, as the webhook makes it) plus
        what only sync knows: the version live before, and what the deploy shipped (``known``
        when a pending deployment was worked out at the last sync)."""
        if statuses is None:
            statuses = self.statuses(d)
        change, _ = objects_github.deployment_change(self.full_name, d, statuses, self.target)
        if change is None:
            return None
        env_state = self.rs.setdefault("environments", {}).setdefault(d["environment"], {})
        if known is None:
            known = {"previous_version": env_state.get("success_sha"), "details": {}}
            prev_sha = known["previous_version"]
            if prev_sha:
                known["details"]["previous_ref"] = env_state.get("success_ref")
            if self.cfg.compare and prev_sha and prev_sha != d.get("sha"):
                known["details"].update(self.shipped(prev_sha, d["sha"]))
        if known["previous_version"] or known["details"]:
            change = dataclasses.replace(change, previous_version=known["previous_version"],
                                         details={**change.details, **known["details"]})
        if change.status is ChangeStatus.SUCCEEDED and d["id"] > env_state.get("success_id", 0):
            env_state.update(success_id=d["id"], success_sha=d.get("sha"),
                             success_ref=d.get("ref"))
        if change.status is ChangeStatus.IN_PROGRESS:
            self.remember_pending(d, known)
        return change

    def shipped(self, base: str, head: str) -> dict[str, Any]:
        """Commits, pull requests and files between two deployments: one compare request."""
        comparison = self.repo.compare(base, head)
        data = comparison.raw_data  # completing this lazy object *is* the compare request
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

    def remember_pending(self, d: Mapping[str, Any], known: Mapping[str, Any]) -> None:
        pending = self.rs.setdefault("pending", {})
        pending[str(d["id"])] = {"deployment": {k: d[k] for k in _KEPT if d.get(k) is not None},
                                 "known": dict(known)}
        if len(pending) > PENDING_LIMIT:
            oldest = min(pending, key=int)
            del pending[oldest]
            self.notes.append(f"github {self.repo_name}: stopped following deployment {oldest}"
                              " (too many unfinished)")

    def pending(self) -> Iterator[Batch]:
        """Deployments in progress at the last sync: one status request each. The cursor keeps
        each as listed; an entry an older version kept (a change document) costs one request
        for the deployment, once."""
        pending: dict[str, Any] = self.rs.get("pending") or {}
        cutoff = self.c.context.now() - self.cfg.lookback
        for key in sorted(pending, key=int):
            entry = pending.pop(key)
            if "deployment" in entry:
                d, known = entry["deployment"], entry["known"]
            else:  # a change document, as the cursor kept it before
                _, d = self.c.client.requester.requestJsonAndCheck(
                    "GET", f"{self.api}/deployments/{int(key)}",
                    headers={"Accept": DEPLOYMENT_ACCEPT})
                details = {k: v for k, v in (entry.get("details") or {}).items()
                           if k not in _NORMALISED}
                known = {"previous_version": entry.get("previous_version"), "details": details}
            change = self.deployment_change(d, self.statuses(d), known)
            if change is None:
                continue
            if change.status is ChangeStatus.IN_PROGRESS:  # deployment_change kept it pending
                if change.at < cutoff:
                    del pending[key]
                    self.notes.append(f"github {self.repo_name}: deployment {key} unfinished "
                                      f"after {self.cfg.lookback}; no longer followed")
                continue
            yield from self.emit(change)

    # -- releases ---------------------------------------------------------------------------

    def releases(self) -> Iterator[Batch]:
        """Published releases as deploys to the first configured environment, for teams whose
        release *is* the deploy; off by default so a release that also triggers a deployment
        is not counted twice."""
        last_id = self.rs.get("last_release_id")
        cutoff = self.c.context.now() - self.cfg.lookback
        new = []
        for r in _listing(self.c.client, f"{self.api}/releases"):
            if last_id is not None and _int(r, "id") <= last_id:
                break
            published = r.get("published_at")
            if last_id is None and published and parse_rfc3339(
                    published, "published_at") < cutoff:
                break
            new.append(r)
        for r in reversed(new):
            self.rs["last_release_id"] = max(r["id"], self.rs.get("last_release_id") or 0)
            self.full_name = _full_name(str(r.get("url") or "").split("/releases/")[0],
                                        self.full_name)
            change, _ = objects_github.release_change(self.full_name, r, self.target)
            if change is None:
                self.skipped += 1
            else:
                yield from self.emit(change)


def _int(item: Mapping[str, Any], key: str) -> int:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(key, value, "a whole number (the object's id)")
    return value


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
