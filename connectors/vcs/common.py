"""What the GitHub and GitLab connectors share: config sections, paced retries, file triage.

Kept free of vendor imports so that either connector works with only its own library installed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from rollback_advisor.errors import ConfigError, InvalidInput
from rollback_advisor.timeutil import format_utc, parse_duration

from ..base import ConnectorError

# -- config sections -------------------------------------------------------------------------


class Section:
    """Typed reads of one connector section; every error names ``connectors.<name>.<key>``.

    Unknown keys are refused up front: a misspelt ``enviroments`` silently ignored would sync
    the wrong environment for months.
    """

    def __init__(self, name: str, raw: Mapping[str, Any], known: Iterable[str]) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"connectors.{name}: expected a mapping of settings")
        self.name = name
        self.raw = raw
        allowed = set(known)
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ConfigError(f"{self.key(unknown[0])}: no such setting; known here: "
                              + ", ".join(sorted(allowed)))

    def key(self, key: str) -> str:
        return f"connectors.{self.name}.{key}"

    def _fail(self, key: str, value: Any, expected: str, *, secret: bool = False) -> ConfigError:
        shown = "(hidden)" if secret else repr(value)
        return ConfigError(f"{self.key(key)}: got {shown}, expected {expected}")

    def text(self, key: str, default: str | None = None, *, required: bool = False,
             secret: bool = False) -> str | None:
        value = self.raw.get(key, default)
        if value is None:
            if required:
                hint = " (write {$env: NAME})" if secret else ""
                raise ConfigError(f"{self.key(key)}: required{hint}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, value, "a non-empty string", secret=secret)
        return value.strip()

    def texts(self, key: str, default: Iterable[str] = (), *, required: bool = False,
              pattern: re.Pattern[str] | None = None, expected: str = "a string"
              ) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise ConfigError(f"{self.key(key)}: required (a list of {expected})")
            return tuple(default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or (required and not value):
            raise self._fail(key, value, f"a non-empty list of {expected}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip() or (
                    pattern is not None and not pattern.fullmatch(item.strip())):
                raise self._fail(f"{key}[{index}]", item, expected)
        return tuple(dict.fromkeys(v.strip() for v in value))

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._fail(key, value, f"a whole number from {low} to {high}")
        return value

    def number(self, key: str, default: float, *, low: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise self._fail(key, value, f"a number >= {low}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, value, "true or false")
        return value

    def duration(self, key: str, default: str) -> timedelta:
        try:
            return parse_duration(self.raw.get(key, default), self.key(key))
        except InvalidInput as exc:
            raise ConfigError(exc.message) from None

    def mapping(self, key: str) -> dict[str, str]:
        value = self.raw.get(key) or {}
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
            raise self._fail(key, value, "a mapping of repository to graph node")
        return dict(value)

    def verify(self, key: str) -> bool | str:
        value = self.raw.get(key, True)
        if not isinstance(value, bool | str) or value == "":
            raise self._fail(key, value, "true, false or a CA bundle path")
        return value


REPO_PATH = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+")


# -- retries and rate limits -----------------------------------------------------------------


class RateLimitWaitTooLong(ConnectorError):
    """The server asked us to wait longer than ``max_wait``: give up now, say when to retry."""


class PacedRetryMixin:
    """urllib3 ``Retry`` that waits inside ``increment`` through an injected ``sleep``.

    urllib3 sleeps in ``Retry.sleep`` with ``time.sleep``; waiting in ``increment`` instead
    (and making ``sleep`` a no-op) lets tests inject a fake clock, caps a wait at ``max_wait``
    (a primary rate limit can reset an hour away: failing with the reset time beats a sync that
    hangs silently), and behaves the same under the ``responses`` mock, which calls
    ``increment`` but never ``sleep``. The wait is, in order: ``Retry-After`` (secondary
    limits, 429, 503); the ``(X-)RateLimit-Reset`` epoch when ``(X-)RateLimit-Remaining`` is 0
    (primary limits); else the exponential backoff, at least ``backoff_factor`` seconds.
    """

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep,
                 max_wait: float = 900.0, clock: Callable[[], float] = time.time,
                 **kwargs: Any) -> None:
        self.pace_sleep = sleep
        self.pace_max_wait = max_wait
        self.pace_clock = clock
        super().__init__(**kwargs)

    def new(self, **kwargs: Any) -> Any:
        kwargs.update(sleep=self.pace_sleep, max_wait=self.pace_max_wait, clock=self.pace_clock)
        return super().new(**kwargs)  # type: ignore[misc]

    def increment(self, method: str | None = None, url: str | None = None,
                  response: Any = None, error: Exception | None = None, _pool: Any = None,
                  _stacktrace: Any = None) -> Any:
        retry = super().increment(method, url, response, error,  # type: ignore[misc]
                                  _pool, _stacktrace)
        wait = retry.wait_for(response)
        if wait > self.pace_max_wait:
            until = format_utc(datetime.now(UTC) + timedelta(seconds=wait))
            raise RateLimitWaitTooLong(
                f"rate limited: the server asks to wait {wait:.0f} s (until {until}), more "
                f"than max_wait ({self.pace_max_wait:.0f} s); sync again after that")
        if wait > 0:
            self.pace_sleep(wait)
        return retry

    def sleep(self, response: Any = None) -> None:
        """Waited already in ``increment``."""

    def wait_for(self, response: Any) -> float:
        """Seconds to wait before retrying after ``response`` (None: a connection error)."""
        headers = getattr(response, "headers", None) or {}
        retry_after = headers.get("Retry-After")
        if retry_after:
            seconds = _retry_after_seconds(retry_after, self.pace_clock())
            if seconds is not None:
                return seconds
        limited = getattr(response, "status", None) == 429
        for prefix in ("X-RateLimit-", "RateLimit-"):
            if (limited or headers.get(prefix + "Remaining") == "0") and str(
                    headers.get(prefix + "Reset", "")).isdigit():
                return max(0.0, int(headers[prefix + "Reset"]) - self.pace_clock()) + 1.0
        backoff = float(self.get_backoff_time())  # type: ignore[attr-defined]
        return max(backoff, float(self.backoff_factor))  # type: ignore[attr-defined]


def _retry_after_seconds(value: str, now: float) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


# -- what a deploy shipped -------------------------------------------------------------------

_MIGRATION_PATHS = [re.compile(p) for p in (
    r"(^|/)migrations?/.+\.(py|sql|rb|js|ts|go|xml|ya?ml)$",   # django, knex, golang-migrate
    r"(^|/)alembic/versions/.+\.py$",
    r"(^|/)db/migrate/.+\.rb$",                                  # rails
    r"(^|/)(db/migration|flyway)/.+\.sql$",                      # flyway
    r"(^|/)V\d+(_\d+)*__.+\.sql$",                               # flyway naming anywhere
    r"(^|/)(changelog|liquibase)/.+\.(xml|ya?ml|sql|json)$",     # liquibase
    r"(^|/)db/schema\.rb$", r"(^|/)structure\.sql$",
)]
_PR_NUMBER = re.compile(r"(?:Merge pull request #(\d+)|\(#(\d+)\)\s*$)", re.MULTILINE)
_MR_NUMBER = re.compile(r"See merge request [\w./-]*!(\d+)")


def migration_files(paths: Iterable[str]) -> list[str]:
    """The paths that look like schema migrations (Django, Alembic, Rails, Flyway, ...)."""
    return [p for p in paths if any(rx.search(p) for rx in _MIGRATION_PATHS)]


def pull_request_numbers(messages: Iterable[str]) -> list[int]:
    """PR numbers named by merge or squash commit titles, so no request per commit is spent."""
    found: dict[int, None] = {}
    for message in messages:
        for m in _PR_NUMBER.finditer(message.splitlines()[0] if message else ""):
            found[int(m.group(1) or m.group(2))] = None
    return list(found)


def merge_request_numbers(messages: Iterable[str]) -> list[int]:
    """GitLab MR iids named by merge commit messages (``See merge request group/p!12``)."""
    found: dict[int, None] = {}
    for message in messages:
        for m in _MR_NUMBER.finditer(message or ""):
            found[int(m.group(1))] = None
    return list(found)


def first_line(text: str | None, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def service_for(prefix: str, path: str, explicit: Mapping[str, str],
                repo_map: Mapping[str, str]) -> str:
    """The graph node of a repository: the section's ``map``, the graph's ``repo:``
    annotation (``github:owner/name``), else the repository's last path segment."""
    lowered = {k.lower(): v for k, v in explicit.items()}
    graph = {k.lower(): v for k, v in repo_map.items()}
    return (lowered.get(path.lower()) or graph.get(f"{prefix}:{path}".lower())
            or path.rsplit("/", 1)[-1])


def as_utc(value: datetime | None) -> datetime | None:
    """Vendor datetimes as aware UTC; a naive one is taken as UTC (both APIs send Z)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
