"""Provider connectors on real Statuspage documents and feeds, served through ``responses``."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses

from connectors.base import Batch, ConnectorError
from connectors.providers import ProviderConnector
from rollback_advisor.errors import ConfigError
from rollback_advisor.models import Change, ChangeKind, change_from_dict

from .statuspage_api import ATOM, BASE, FIXTURES, incidents_doc, load


def github(**extra: Any) -> ProviderConnector:
    section = {"feeds": [{"name": "githubstatus", "type": "statuspage", "url": BASE,
                          "node": "github",
                          "components": {"Packages": "github-packages",
                                         "Git Operations": "github-git"}}],
               "backoff": "0.001s", "retries": 2, **extra}
    return ProviderConnector.from_config(section, None)


def run(connector: ProviderConnector, cursor: dict[str, Any] | None = None) -> list[Batch]:
    batches = list(connector.fetch(cursor, lambda message: None))
    for batch in batches:
        for change in batch.changes:
            assert change_from_dict(change.to_dict()).to_dict() == change.to_dict()
    return batches


def by_id(changes: list[Change]) -> dict[str, Change]:
    return {c.id: c for c in changes}


@responses.activate
def test_statuspage_incidents_and_component_changes() -> None:
    """Each incident is a provider change at its start on the mapped component nodes; a
    worsening component transition is one at its update; nothing is reversible."""
    responses.get(BASE + "incidents.json", json=incidents_doc())
    responses.get(BASE + "summary.json", json=load("githubstatus-summary-2022-11-25.json"))
    (batch,) = run(github())
    changes = by_id(batch.changes)
    live = changes["githubstatus:incident:ljwdk6qml8z8"]
    assert live.kind is ChangeKind.PROVIDER and live.reversible is False
    assert live.at == datetime(2022, 11, 25, 14, 39, 9, 542000, tzinfo=UTC)
    assert live.services == ("github-packages",)  # Pages is not mapped; Packages is
    assert live.details["impact"] == "major" and live.url == "https://stspg.io/33vh8r7z43kh"
    assert live.summary == "GitHub incident: Incident with Packages and Pages (major impact)"
    actions = changes["githubstatus:incident:2k3z9fkr9z5g"]
    assert actions.services == ("github",)  # no mapped component: the provider's node
    assert actions.at == datetime(2020, 4, 14, 0, 6, 40, 649000, tzinfo=UTC)
    assert [u["status"] for u in actions.details["updates"]] == [
        "investigating", "monitoring", "resolved"]
    # Actions' recovery (degraded -> operational) is not a change; degradations are:
    assert not any("component" in i and "2k3z9fkr9z5g" in str(c.details) for i, c in
                   changes.items())
    assert [c.at for c in batch.changes] == sorted(c.at for c in batch.changes)
    assert batch.cursor["feeds"]["githubstatus"]["newest"] == "2023-04-18T14:35:01Z"


@responses.activate
def test_statuspage_worsening_transition_and_silent_component_flip() -> None:
    """An update taking Git Operations to major_outage is a change at the update; a component
    degraded in summary.json that no incident lists is one at its updated_at."""
    doc = incidents_doc()
    incident = copy.deepcopy(doc["incidents"][0])
    incident.update(id="zzz", name="Git push failures", shortlink="https://stspg.io/zzz")
    incident["incident_updates"] = [{
        "id": "upd1", "status": "identified", "body": "Pushes fail", "created_at":
        "2022-11-25T16:00:00.000Z", "affected_components": [
            {"code": "8l4ygp009s5s", "name": "Git Operations", "old_status": "operational",
             "new_status": "major_outage"}]}]
    summary = load("githubstatus-summary-2022-11-25.json")
    api = next(c for c in summary["components"] if c["name"] == "API Requests")
    api.update(status="degraded_performance", updated_at="2022-11-25T15:55:00.000Z")
    responses.get(BASE + "incidents.json", json={**doc, "incidents": [incident]})
    responses.get(BASE + "summary.json", json=summary)
    changes = by_id(run(github())[0].changes)
    push = changes["githubstatus:component:upd1:8l4ygp009s5s"]
    assert push.services == ("github-git",) and push.details["new_status"] == "major_outage"
    assert push.at == datetime(2022, 11, 25, 16, 0, tzinfo=UTC)
    flip = changes[f"githubstatus:component:{api['id']}:2022-11-25T15:55:00.000Z"]
    assert flip.services == ("github",) and flip.summary == (
        "GitHub API Requests: degraded performance")
    # Packages is degraded too, but the incident explains it: no second change for it.
    assert not any(c.details.get("component") == "Packages" for c in changes.values())


@responses.activate
def test_statuspage_cursor_emits_only_new_incidents() -> None:
    """A second sync of the same window emits nothing; a new incident alone comes next."""
    doc = incidents_doc()
    responses.get(BASE + "incidents.json", json=doc)
    responses.get(BASE + "summary.json", json=load("githubstatus-summary-2022-11-25.json"))
    (first,) = run(github())
    (second,) = run(github(), first.cursor)
    assert first.changes and second.changes == []
    newer = copy.deepcopy(doc["incidents"][1])
    newer.update(id="new1", started_at="2019-01-01T00:00:00Z")  # backdated, still caught
    responses.replace(responses.GET, BASE + "incidents.json",
                      json={**doc, "incidents": [newer, *doc["incidents"]]})
    (third,) = run(github(), second.cursor)
    assert [c.id for c in third.changes] == ["githubstatus:incident:new1"]


@responses.activate
def test_5xx_then_success_is_retried() -> None:
    """A 503 and a 429 are retried with backoff; the third answer is used."""
    responses.get(BASE + "incidents.json", status=503)
    responses.get(BASE + "incidents.json", status=429)
    responses.get(BASE + "incidents.json", json=incidents_doc())
    responses.get(BASE + "summary.json", json=load("githubstatus-summary-2022-11-25.json"))
    (batch,) = run(github())
    assert batch.changes
    assert [c.response.status_code for c in responses.calls][:3] == [503, 429, 200]


@responses.activate
def test_persistent_5xx_is_one_line_error() -> None:
    """When retries run out the error names the feed, the URL and the status."""
    responses.get(BASE + "incidents.json", status=502)
    with pytest.raises(ConnectorError) as info:
        run(github())
    assert info.value.message == (f"providers githubstatus: GET {BASE}incidents.json answered "
                                  "502 Bad Gateway after 2 retries")
    assert len(responses.calls) == 3


@pytest.mark.parametrize(("body", "expected"), [
    ('{"page": {"id": "x"}, "incidents": [', "did not return JSON"),
    ("<html>maintenance</html>", "did not return JSON"),
    ('{"page": {}, "incidents": {"oops": 1}}', "is not a Statuspage v2 API"),
])
@responses.activate
def test_malformed_statuspage_bodies_are_one_line_errors(body: str, expected: str) -> None:
    """Truncated JSON, an HTML error page and the wrong shape each say what is wrong."""
    responses.get(BASE + "incidents.json", body=body)
    responses.get(BASE + "summary.json", json=load("githubstatus-summary-2022-11-25.json"))
    with pytest.raises(ConnectorError) as info:
        run(github())
    assert expected in info.value.message and "\n" not in info.value.message


@responses.activate
def test_connection_failure_is_one_line_error() -> None:
    """A refused connection (after retries) is a ConnectorError naming the URL."""
    responses.get(BASE + "incidents.json", body=requests.ConnectionError("refused"))
    with pytest.raises(ConnectorError, match=re.escape(f"GET {BASE}incidents.json failed")):
        run(github())


def feed(url: str = ATOM, **extra: Any) -> ProviderConnector:
    return ProviderConnector.from_config({"feeds": [
        {"name": "github-history", "type": "feed", "url": url, "node": "github", **extra}],
        "backoff": "0.001s"}, None)


@responses.activate
def test_atom_history_feed_entries_become_changes() -> None:
    """Every Atom entry is a change at its published time with the entry link; the cursor
    stops a second sync from repeating them."""
    body = (FIXTURES / "github-status-history.atom").read_bytes()
    responses.get(ATOM, body=body, content_type="application/atom+xml")
    (batch,) = run(feed())
    assert len(batch.changes) == 25
    newest = batch.changes[-1]
    assert newest.id == "github-history:entry:tag:www.githubstatus.com,2005:Incident/31233568"
    assert newest.at == datetime(2026, 8, 21, 0, 37, 20, tzinfo=UTC)
    assert newest.url == "https://www.githubstatus.com/incidents/bhbcjn4n3jzp"
    assert newest.summary == ("GitHub Status - Incident History: Intermittent failures creating "
                              "agent tasks")
    assert newest.details["content"].startswith("Aug 21 , 00:37 UTC Resolved - ")
    assert newest.reversible is False and newest.source == "feed"
    (again,) = run(feed(), batch.cursor)
    assert again.changes == []


RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Acme API changelog</title>
<item><title>Webhooks v2 default</title><link>https://acme.test/changelog/42</link>
<guid>acme-42</guid><pubDate>Tue, 17 Nov 2026 09:30:00 -0800</pubDate>
<description>&lt;p&gt;Webhook payloads now use &lt;b&gt;v2&lt;/b&gt;.&lt;/p&gt;</description></item>
<item><title>No date here</title><guid>acme-41</guid></item>
</channel></rss>"""


@responses.activate
def test_rss_changelog_dates_and_undated_entries() -> None:
    """RFC 822 dates with offsets are read as UTC; an undated entry is skipped and counted."""
    responses.get("https://acme.test/changelog.rss", body=RSS, content_type="application/rss+xml")
    (batch,) = run(feed("https://acme.test/changelog.rss", node="acme"))
    (change,) = batch.changes
    assert change.at == datetime(2026, 11, 17, 17, 30, tzinfo=UTC)
    assert change.id == "github-history:entry:acme-42" and change.services == ("acme",)
    assert change.details["content"] == "Webhook payloads now use v2 ."
    assert batch.skipped == 1


@responses.activate
def test_malformed_feed_is_one_line_error() -> None:
    """A body that is not a feed at all is refused with the parser's reason."""
    responses.get(ATOM, body=b"<html><body>Oops</body", content_type="text/html")
    with pytest.raises(ConnectorError, match="is not an RSS or Atom feed"):
        run(feed())


def test_injected_session_is_used() -> None:
    """A session passed in (a proxy, a test double aimed at localhost) is the one used."""
    session = requests.Session()
    source = ProviderConnector({"feeds": [{"name": "a", "url": BASE, "node": "n"}]},
                               session=session)
    assert source.session is session


@pytest.mark.parametrize(("section", "key"), [
    ({"feeds": [{"name": "a", "url": BASE, "node": "n", "type": "json"}]},
     "connectors.providers.feeds[0].type"),
    ({"feeds": [{"name": "a", "url": "ftp://x", "node": "n"}]},
     "connectors.providers.feeds[0].url"),
    ({"feeds": [{"name": "a", "url": BASE, "node": "n", "components": ["x"]}]},
     "connectors.providers.feeds[0].components"),
    ({"feeds": [{"name": "a", "url": BASE, "node": "n"}], "retry": 3},
     "connectors.providers.retry"),
    ({"feeds": []}, "connectors.providers.feeds"),
])
def test_bad_config_names_the_key(section: dict[str, Any], key: str) -> None:
    """Bad values and unknown keys name their full path."""
    with pytest.raises(ConfigError, match=re.escape(key)):
        ProviderConnector.from_config(section, None)
