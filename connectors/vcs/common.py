"""What the GitHub and GitLab connectors share: config sections, the connector's construction,
the per-repository loop and its batches, error wording, paced retries, file triage.

Kept free of vendor imports so that either connector works with only its own library installed.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from rollback_advisor.errors import ConfigError, InvalidInput
from rollback_advisor.models import Change
from rollback_advisor.timeutil import format_utc

from ..base import Batch, ConnectorError
from ..config import duration, settings

# -- config sections -------------------------------------------------------------------------


if TYPE_CHECKING:
    from connectors import ConnectorContext


class Section:
    """Typed reads of one connector section; every error names ``connectors.<name>.<key>``.

    Unknown keys are refused up front: a misspelt ``enviroments`` silently ignored would sync
    the wrong environment for months.
    """

    def __init__(self, name: str, raw: Mapping[str, Any], known: Iterable[str]) -> None:
        self.name = name
        self.raw = settings(f"connectors.{name}", raw, known, "expected a mapping of settings")

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
        return duration(f"connectors.{self.name}", self.raw, key, default)

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


@dataclass(frozen=True)
class VcsConfig:
    """The settings a ``connectors.github`` and a ``connectors.gitlab`` section share (see
    config.example.yaml); each connector's config adds its repositories and server address."""

    token: str | None = None
    environments: tuple[str, ...] = ("production",)
    map: Mapping[str, str] = field(default_factory=dict)
    per_page: int = 100
    releases: bool = False
    compare: bool = True
    lookback: timedelta = timedelta(days=30)
    timeout: float = 30.0
    max_wait: timedelta = timedelta(minutes=15)
    retries: int = 5
    ssl_verify: bool | str = True
    batch_size: int = 50

    @classmethod
    def shared(cls, s: Section) -> dict[str, Any]:
        """The shared keys of section ``s``, validated, with these defaults."""
        return {
            "environments": s.texts("environments", cls.environments, expected="environment"),
            "map": s.mapping("map"),
            "per_page": s.integer("per_page", cls.per_page, low=1, high=100),
            "releases": s.flag("releases", cls.releases),
            "compare": s.flag("compare", cls.compare),
            "lookback": s.duration("lookback", "30d"),
            "timeout": s.number("timeout", cls.timeout, low=1),
            "max_wait": s.duration("max_wait", "15m"),
            "retries": s.integer("retries", cls.retries, low=0, high=20),
            "ssl_verify": s.verify("ssl_verify"),
            "batch_size": s.integer("batch_size", cls.batch_size, low=1, high=10_000),
        }


# -- the connector and its pass over each repository -----------------------------------------


class VcsConnector:
    """Construction both connectors share: a validated config, the sync context, and a vendor
    client, injected (tests, ``context.clients[name]``) or built by ``build_client``."""

    source: ClassVar[str]
    config_class: ClassVar[Any]

    def __init__(self, config: Any, client: Any = None, *,
                 context: ConnectorContext | None = None, name: str | None = None) -> None:
        from connectors import ConnectorContext

        self.config = config
        self.name = name or self.source
        self.context = context or ConnectorContext()
        self.client = client or self.build_client(config, self.context)

    @classmethod
    def from_config(cls, section: Mapping[str, Any], context: ConnectorContext, *,
                    name: str | None = None) -> Any:
        name = name or cls.source
        config = cls.config_class.from_section(section, name)
        return cls(config, context.clients.get(name), context=context, name=name)

    def build_client(self, config: Any, context: ConnectorContext) -> Any:
        raise NotImplementedError


def fetch_each(names: Iterable[str], errors: Callable[[str], VendorErrors],
               run: Callable[[str], Iterator[Batch]]) -> Iterator[Batch]:
    """``run`` each repository inside its ``errors`` guard. A repository that fails is noted
    and the others still run; then one ConnectorError names every failure. A fatal error (bad
    credentials, a rate-limit wait beyond ``max_wait``) stops at once: the rest would fail
    the same way."""
    failures: list[ConnectorError] = []
    for name in names:
        try:
            with errors(name):
                yield from run(name)
        except ConnectorError as exc:
            if getattr(exc, "fatal", False):
                raise
            failures.append(exc)
    if failures:
        raise ConnectorError("; ".join(f.message for f in failures)) from failures[0]


class BatchBuffer:
    """The changes of one repository's pass, handed over ``batch_size`` at a time, each batch
    with a deep copy of the cursor ``state`` as it is after that batch."""

    def __init__(self, state: dict[str, Any], batch_size: int) -> None:
        self.state = state
        self.batch_size = batch_size
        self.out: list[Change] = []
        self.skipped = 0
        self.notes: list[str] = []
        self.saved = copy.deepcopy(state)

    def flush(self) -> Batch:
        self.saved = copy.deepcopy(self.state)
        batch = Batch(self.out, copy.deepcopy(self.state), self.skipped, self.notes)
        self.out, self.skipped, self.notes = [], 0, []
        return batch

    def emit(self, change: Change) -> Iterator[Batch]:
        self.out.append(change)
        if len(self.out) >= self.batch_size:
            yield self.flush()

    def rest(self) -> Iterator[Batch]:
        """The last batch, when anything is left to store or the cursor moved without one."""
        if self.out or self.skipped or self.notes or self.state != self.saved:
            yield self.flush()


class VendorErrors:
    """Turn a vendor library's and requests' errors into one ConnectorError line naming the
    repository (the boundary ``on_http_error`` of python-gitlab, as a context manager).

    A subclass says what its vendor's errors mean (``describe_vendor``), which of them stop the
    whole source (``is_fatal``), and the server's address (``address``).
    """

    malformed: ClassVar[tuple[type[BaseException], ...]] = (ValueError, TypeError, KeyError,
                                                            InvalidInput)

    def __init__(self, what: str, config: Any, section: str) -> None:
        self.what, self.config, self.section = what, config, section

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        message = self.describe(exc)
        if message is not None:
            error = ConnectorError(f"{self.what}: {message}")
            error.fatal = isinstance(exc, RateLimitWaitTooLong) or self.is_fatal(exc)
            raise error from exc

    @property
    def address(self) -> str:
        raise NotImplementedError

    def is_fatal(self, exc: Exception) -> bool:
        return False

    def describe_vendor(self, exc: Exception) -> str | None:
        return None

    def describe(self, exc: Exception) -> str | None:
        """One line for ``exc``; None for an error that is not the vendor's (a bug: raised)."""
        import requests  # a dependency of both vendor libraries

        if isinstance(exc, ConnectorError):
            return exc.message
        vendor = self.describe_vendor(exc)
        if vendor is not None:
            return vendor
        if isinstance(exc, requests.Timeout):
            return f"timed out after {self.config.timeout:.0f} s talking to {self.address}"
        if isinstance(exc, requests.ConnectionError):
            return f"cannot reach {self.address}: {first_line(str(exc), 120)}"
        if isinstance(exc, requests.RequestException):
            return f"request failed: {first_line(str(exc), 120)}"
        if isinstance(exc, self.malformed):
            return f"malformed response ({type(exc).__name__}: {first_line(str(exc), 80)})"
        return None


# -- retries and rate limits -----------------------------------------------------------------


class RateLimitWaitTooLong(ConnectorError):
    """The server asked us to wait longer than ``max_wait``: give up now, say when to retry."""

    wait: float = 0.0  # seconds the server asked for


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
            error = RateLimitWaitTooLong(
                f"rate limited: the server asks to wait {wait:.0f} s (until {until}), more "
                f"than max_wait ({self.pace_max_wait:.0f} s); sync again after that")
            error.wait = wait  # the scheduler's back-off for this source
            raise error
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


def as_utc(value: datetime | None) -> datetime | None:
    """Vendor datetimes as aware UTC; a naive one is taken as UTC (both APIs send Z)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
