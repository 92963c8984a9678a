"""External providers' incidents, status changes and changelogs, as ``provider`` changes.

Two feed types, both over HTTP with ``requests``:

- ``statuspage``: an Atlassian Statuspage page's public API v2 (``<url>incidents.json`` and
  ``<url>summary.json``; https://metastatuspage.com/api/v2/). Mapping in ``.statuspage``.
- ``feed``: an RSS or Atom status or changelog feed, parsed by feedparser
  (https://feedparser.readthedocs.io/). Mapping in ``.feeds``.

HTTP: a ``requests.Session`` (injectable) with an ``HTTPAdapter`` whose urllib3 ``Retry``
retries GETs on connection errors, 429 and 5xx with exponential backoff (honouring
``Retry-After``); every request has a timeout; every failure is one ``ConnectorError`` line
naming the feed and URL.

Cursor: ``{"feeds": {<feed name>: {"seen": [change ids], "newest": "<RFC 3339>"}}}``. These
documents are sliding windows (the last 50 incidents, the last N entries), so the cursor keeps
the ids of what the current window holds and has been emitted, and emits only the rest: exact
even when an operator backdates an incident's start, which a newest-time cursor would miss.
``newest`` is the newest ``at`` seen, for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from connectors.base import Batch, ConnectorError, ConnectorUnavailable, Cursor, Progress
from rollback_advisor.models import Change
from rollback_advisor.timeutil import format_utc

from ._config import FeedConfig, ProvidersConfig, parse_config

try:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
except ImportError as _missing:  # pragma: no cover - requests is a core dependency
    raise ConnectorUnavailable("requests is not installed: pip install requests",
                               library="requests") from _missing

from . import feeds, statuspage

__all__ = ["FeedConfig", "ProviderConnector", "ProvidersConfig", "parse_config"]

USER_AGENT = "rollback-advisor (provider status sync)"
RETRY_STATUSES = (429, 500, 502, 503, 504)


def build_session(config: ProvidersConfig) -> requests.Session:
    """A session that retries transient failures with backoff, so one 503 is not an outage."""
    retry = Retry(total=config.retries, connect=config.retries, read=config.retries,
                  status=config.retries, backoff_factor=config.backoff.total_seconds(),
                  status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"GET"}),
                  respect_retry_after_header=True, raise_on_status=False)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


class ProviderConnector:
    """Read each configured status page or feed; emit what was not emitted before."""

    name = "providers"

    def __init__(self, config: ProvidersConfig | Mapping[str, Any], *,
                 session: requests.Session | None = None, name: str = "providers") -> None:
        """An injected ``session`` is used as given (its own adapters and retries)."""
        self.name = name
        self.config = (config if isinstance(config, ProvidersConfig)
                       else parse_config(config, f"connectors.{name}"))
        self.session = session or build_session(self.config)

    @classmethod
    def from_config(cls, section: Mapping[str, Any], context: Any = None, *,
                    name: str = "providers") -> ProviderConnector:
        """Build from a raw section; ``context.clients[name]`` may be a requests.Session."""
        clients = getattr(context, "clients", {}) or {}
        return cls(parse_config(section, f"connectors.{name}"), session=clients.get(name),
                   name=name)

    def fetch(self, cursor: Cursor | None, progress: Progress) -> Iterator[Batch]:
        """One batch per feed, holding the changes its cursor has not seen."""
        state: dict[str, Any] = dict((cursor or {}).get("feeds") or {})
        for feed in self.config.feeds:
            progress(f"{self.name}: reading {feed.type} {feed.name} at {feed.url}")
            read: Callable[[FeedConfig], tuple[list[Change], int, list[str]]] = (
                self._statuspage if feed.type == "statuspage" else self._feed)
            changes, skipped, notes = read(feed)
            seen = set((state.get(feed.name) or {}).get("seen") or [])
            fresh = sorted((c for c in changes if c.id not in seen), key=lambda c: (c.at, c.id))
            newest = max((c.at for c in changes), default=None)
            previous_newest = (state.get(feed.name) or {}).get("newest")
            state[feed.name] = {"seen": sorted({c.id for c in changes}),
                                "newest": format_utc(newest) if newest else previous_newest}
            yield Batch(changes=fresh, cursor={"feeds": dict(state)}, skipped=skipped,
                        notes=notes)

    def _statuspage(self, feed: FeedConfig) -> tuple[list[Change], int, list[str]]:
        base = feed.url if feed.url.endswith("/") else feed.url + "/"
        incidents_doc = self._json(feed, base + "incidents.json")
        summary_doc = self._json(feed, base + "summary.json")
        try:
            changes = statuspage.incident_changes(incidents_doc, feed)
            explained = (statuspage.affected_names(incidents_doc)
                         | statuspage.affected_names(summary_doc))
            more, _ = statuspage.summary_changes(summary_doc, feed, explained)
        except statuspage.ShapeError as err:
            raise ConnectorError(f"{self.name} {feed.name}: {base} is not a Statuspage v2 "
                                 f"API: {err}") from err
        by_id = {c.id: c for c in changes + more}
        return list(by_id.values()), 0, []

    def _feed(self, feed: FeedConfig) -> tuple[list[Change], int, list[str]]:
        response = self._get(feed, feed.url)
        try:
            return feeds.entry_changes(response.content, response.headers.get("Content-Type"),
                                       feed)
        except feeds.FeedError as err:
            raise ConnectorError(f"{self.name} {feed.name}: {feed.url} is not an RSS or Atom "
                                 f"feed: {err}") from err

    def _json(self, feed: FeedConfig, url: str) -> Any:
        response = self._get(feed, url)
        try:
            return response.json()
        except ValueError as err:
            raise ConnectorError(f"{self.name} {feed.name}: {url} did not return JSON "
                                 f"({str(err).splitlines()[0]})") from err

    def _get(self, feed: FeedConfig, url: str) -> requests.Response:
        try:
            response = self.session.get(url, timeout=self.config.timeout.total_seconds())
        except requests.Timeout as err:
            raise ConnectorError(f"{self.name} {feed.name}: {url} did not answer within "
                                 f"{self.config.timeout.total_seconds():g} s") from err
        except requests.RequestException as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConnectorError(f"{self.name} {feed.name}: GET {url} failed: {reason}") \
                from err
        if response.status_code >= 400:
            raise ConnectorError(
                f"{self.name} {feed.name}: GET {url} answered {response.status_code} "
                f"{response.reason or ''}".rstrip()
                + (f" after {self.config.retries} retries"
                   if response.status_code in RETRY_STATUSES else ""))
        return response
