"""RSS and Atom status or changelog feeds, parsed by feedparser.

Upstream: https://feedparser.readthedocs.io/en/latest/ (``entries``, ``published_parsed``,
``bozo``). feedparser is used rather than ``xml.etree`` because real feeds come in RSS 0.9x,
1.0 and 2.0 and Atom 0.3/1.0 dialects with RFC 822, RFC 3339 and worse date formats, and it
normalises all of them (dates to UTC ``struct_time``) and survives slightly broken XML.

Each entry is a change ``<feed>:entry:<entry id, else link, else title>`` at the entry's
``published`` time (else ``updated``), on the feed's node, ``reversible: false``. For a
changelog feed that is when the provider shipped the change. For a Statuspage history feed the
entry's date is its *latest* update (often the resolution), not the start: point ``type:
statuspage`` at the page's ``/api/v2/`` instead where you can.
"""

from __future__ import annotations

import calendar
import html
import re
from datetime import UTC, datetime
from typing import Any

from connectors.base import ConnectorUnavailable
from rollback_advisor.models import Change, ChangeKind

from ._config import FeedConfig

try:
    import feedparser
except ImportError as _missing:  # pragma: no cover - a declared dependency
    raise ConnectorUnavailable("feedparser is not installed: pip install 'feedparser>=6,<7'",
                               library="feedparser") from _missing

_TAGS = re.compile(r"<[^>]+>")


class FeedError(ValueError):
    """The body is not a feed feedparser can read."""


def entry_changes(body: bytes, content_type: str | None,
                  feed: FeedConfig) -> tuple[list[Change], int, list[str]]:
    """Changes, the number of entries skipped (no date) and notes, from a feed body."""
    parsed = feedparser.parse(body, response_headers={"content-type": content_type or ""})
    notes: list[str] = []
    if parsed.get("bozo"):
        problem = str(parsed.get("bozo_exception") or "malformed").splitlines()[0]
        if not parsed.entries or not parsed.get("version"):
            raise FeedError(problem)
        notes.append(f"{feed.name}: feed is not well-formed ({problem}); read what parsed")
    title = str(parsed.feed.get("title") or feed.name)
    out: list[Change] = []
    skipped = 0
    for entry in parsed.entries:
        # dict.get: feedparser's own get() maps a missing "updated" onto "published" with a
        # DeprecationWarning (its issue 310); we want to know which one the feed really has.
        stamp = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
        key = entry.get("id") or entry.get("link") or entry.get("title")
        if not stamp or not key:
            skipped += 1
            continue
        at = datetime.fromtimestamp(calendar.timegm(stamp), UTC)
        text = _plain(entry.get("summary") or "")
        details: dict[str, Any] = {"provider": feed.node, "feed": title, "entry_id": key}
        if text:
            details["content"] = text[:500]
        if dict.get(entry, "updated") and dict.get(entry, "published"):
            details["updated"] = dict.get(entry, "updated")
        out.append(Change(
            id=f"{feed.name}:entry:{key}", kind=ChangeKind.PROVIDER, services=(feed.node,),
            at=at, environment=feed.environment, reversible=False,
            summary=f"{title}: {entry.get('title') or key}"[:300],
            url=entry.get("link"), source="feed", details=details))
    return out, skipped, notes


def _plain(markup: str) -> str:
    """HTML entry content as one line of text."""
    return " ".join(html.unescape(_TAGS.sub(" ", markup)).split())
