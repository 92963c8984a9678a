"""Pure webhook parsers for ``POST /hooks/<hook id>``: verify a delivery, then normalise it.

The web layer looks the hook up, picks ``parser_for(hook.source)``, calls ``verify`` over the raw
body and then ``parse``, and upserts ``Parsed.changes`` by id with ``Parsed.raw`` kept beside them.
Nothing here does I/O, so the same code serves the server, ``notify`` and the tests.

Sources: ``generic`` (DESIGN §1 events), ``github``, ``gitlab``, ``cdevents``, ``pagerduty``;
alert sources (``Parsed.alerts``, DESIGN §7): ``alertmanager``, ``grafana``,
``pagerduty-incidents``;
each module's docstring names its upstream documentation and how its events map to changes.
"""

from __future__ import annotations

from rollback_advisor.errors import InvalidInput

from .alertmanager import AlertmanagerParser
from .base import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    HookContext,
    HookParser,
    Parsed,
    parse_vendor_time,
    sign,
)
from .cdevents import CDEventsParser
from .generic import GenericParser
from .github import GitHubParser
from .gitlab import GitLabParser
from .grafana import GrafanaParser
from .pagerduty import PagerDutyParser
from .pagerduty_incidents import PagerDutyIncidentsParser

PARSERS: dict[str, HookParser] = {
    "generic": GenericParser(),
    "github": GitHubParser(),
    "gitlab": GitLabParser(),
    "cdevents": CDEventsParser(),
    "pagerduty": PagerDutyParser(),
    "alertmanager": AlertmanagerParser(),
    "grafana": GrafanaParser(),
    "pagerduty-incidents": PagerDutyIncidentsParser(),
}
ALERT_SOURCES = frozenset({"alertmanager", "grafana", "pagerduty-incidents"})
"""Sources whose deliveries are alerts (they open incidents) rather than changes."""


def parser_for(source: str) -> HookParser:
    """The parser registered for ``source``; InvalidInput names the known ones otherwise."""
    try:
        return PARSERS[source]
    except (KeyError, TypeError):
        raise InvalidInput("source", source, "one of " + ", ".join(PARSERS)) from None


__all__ = ["ALERT_SOURCES", "DELIVERY_HEADER", "PARSERS", "SIGNATURE_HEADER", "HookContext",
           "HookParser", "Parsed", "parse_vendor_time", "parser_for", "sign"]
