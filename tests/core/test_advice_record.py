"""An incident's stored advice (``Advice.to_dict``) read back as an ``Advice`` gives the same
JSON again: what the incident page and its Slack text show is what was stored."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rollback_advisor.advice_record import advice_from_dict
from rollback_advisor.advisor import advise
from rollback_advisor.config import Settings
from rollback_advisor.errors import InvalidInput
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.models import Incident, Symptom, change_from_dict
from rollback_advisor.render import advice_slack
from rollback_advisor.timeutil import parse_rfc3339

GRAPH = DependencyGraph.from_document({"services": {
    "api": {"depends_on": ["payment", "db"]}, "payment": {"depends_on": ["db"]},
    "db": {"type": "datastore"}}})
ONSET = parse_rfc3339("2026-11-20T14:05:00Z")
CHANGES = [change_from_dict(c) for c in [
    {"id": "d-pay-2", "kind": "deploy", "service": "payment", "at": "2026-11-20T14:01:00Z",
     "version": "v2", "previous_version": "v1", "author": "ana", "url": "https://ci/2"},
    {"id": "d-pay-3", "kind": "deploy", "service": "payment", "at": "2026-11-20T14:03:00Z",
     "version": "v3", "previous_version": "v2"},
    {"id": "mig-1", "kind": "migration", "service": "db", "at": "2026-11-20T13:00:00Z",
     "reversible": False, "summary": "DROP COLUMN x"},
    {"id": "late", "kind": "config", "service": "api", "at": "2026-11-20T14:30:00Z"},
]]


@pytest.mark.parametrize("incident", [
    Incident("api", ONSET),
    Incident("api", ONSET, symptoms=(Symptom("payment", ONSET - timedelta(minutes=2)),),
             scope={"region": ("eu-west-1",)}),
])
def test_stored_advice_reads_back_to_the_same_json_and_slack_text(incident):
    advice = advise(CHANGES, GRAPH, incident, Settings())
    stored = advice.to_dict()
    back = advice_from_dict(stored, lambda ids: {c.id: c for c in CHANGES if c.id in ids})
    assert back.to_dict() == stored
    again = advice_from_dict(back.to_dict(), lambda ids: {})
    assert advice_slack(again) == advice_slack(back)


def test_a_change_a_rollback_also_undoes_comes_from_the_lookup():
    stored = advise(CHANGES, GRAPH, Incident("api", ONSET), Settings()).to_dict()
    stored["recommendation"]["also_affected"] = [{"id": "mig-1", "why": "coupled"},
                                                 {"id": "gone", "why": "deleted since"}]
    asked: list[list[str]] = []

    def lookup(ids):
        asked.append(list(ids))
        return {c.id: c for c in CHANGES if c.id in ids}

    back = advice_from_dict(stored, lookup)
    assert [(s.change.id, s.why) for s in back.recommendation.also_affected] == \
        [("mig-1", "coupled")]
    assert all("mig-1" in a or "gone" in a for a in asked)


def test_something_else_is_refused():
    with pytest.raises(InvalidInput):
        advice_from_dict({"suspects": []}, lambda ids: {})
