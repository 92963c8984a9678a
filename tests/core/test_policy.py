"""DESIGN §5: rollback names its target and what it also undoes; forward_fix says what cannot
be undone; investigate lists what to check next."""

from __future__ import annotations

from rollback_advisor.engine import rank
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.models import Decision, Incident
from rollback_advisor.policy import PolicySettings, recommend

from .factories import ONSET, make_change

DOC = {"services": {
    "web": {"endpoints": {"GET /orders": {"depends_on": ["orders"]}}, "depends_on": ["orders"]},
    "orders": {"depends_on": ["orders-db", "stripe"]},
    "orders-db": {"type": "datastore"}, "stripe": {"type": "provider"}, "lonely": {},
}}
GRAPH = DependencyGraph.from_document(DOC)
INCIDENT = Incident(target="web:GET /orders", started_at=ONSET)


def advise(changes, previous=None, **policy):
    ranking = rank(changes, GRAPH, INCIDENT)
    return recommend(ranking, GRAPH, previous=previous, settings=PolicySettings(**policy))


def test_rollback_names_target_and_stacked_changes() -> None:
    """A confident reversible deploy is rolled back to its previous version; a later deploy of
    the same service and a coupled reversible migration are named."""
    deploy = make_change(id="d1", service="orders", minutes_before=8)
    migration = make_change(id="m1", kind="migration", service="orders-db", minutes_before=7,
                            summary="CREATE INDEX orders_created ON orders(created_at)",
                            reversible=True)
    hotfix = make_change(id="d2", service="orders", minutes_before=-20, version="v3",
                         previous_version="v2")
    rec = advise([deploy, migration, hotfix], heavy_rollback_confidence=0.5)
    assert rec.decision is Decision.ROLLBACK
    assert rec.suspect.change.id == "d1"
    assert rec.rollback_target == "orders v1"
    assert {s.change.id for s in rec.also_affected} == {"d2", "m1"}
    assert 0.5 <= rec.confidence <= 1
    assert "a heavy rollback (it drags 1 coupled migration)" in rec.reasons[-2]


def test_the_threshold_to_act_weighs_what_the_rollback_costs() -> None:
    """DESIGN §5: the same lead is enough for a quick rollback (one service, known version,
    nothing stacked or coupled) but not for one that drags a coupled migration; the reasons
    say which trade-off applied."""
    deploy = make_change(id="d1", service="orders", minutes_before=8)
    rival = make_change(id="d9", service="orders-db", kind="config", minutes_before=9)
    alone = advise([deploy, rival])
    p = alone.suspect.probability
    assert 0.3 < p < 0.7, p  # a middling lead
    assert alone.decision is Decision.ROLLBACK
    assert any(r.startswith("a quick rollback") for r in alone.reasons)
    migration = make_change(id="m1", kind="migration", service="orders-db", minutes_before=7,
                            summary="CREATE INDEX orders_created ON orders(created_at)",
                            reversible=True)
    coupled = advise([deploy, rival, migration])
    assert coupled.suspect.change.id == "d1"
    assert coupled.decision is Decision.INVESTIGATE
    assert any("a heavy rollback (it drags 1 coupled migration) is worth doing at 70%" in r
               for r in coupled.reasons)
    # a stricter quick threshold than the lead turns the first into investigate as well
    assert advise([deploy, rival], quick_rollback_confidence=0.9).decision \
        is Decision.INVESTIGATE


def test_coupled_irreversible_migration_blocks_rollback() -> None:
    """A deploy whose coupled migration dropped a column cannot be safely rolled back."""
    deploy = make_change(id="d1", service="orders", minutes_before=6)
    migration = make_change(id="m1", kind="migration", service="orders-db", minutes_before=30,
                            summary="harmless-looking", reversible=False,
                            details={"sql": "ALTER TABLE orders DROP COLUMN coupon"})
    rec = advise([deploy, migration], min_confidence=0.3)
    assert rec.decision is Decision.FORWARD_FIX
    assert "m1" in rec.reasons[-1] and "drops column orders.coupon" in rec.reasons[-1]


def test_forward_fix_for_irreversible_kinds() -> None:
    """Provider changes, expired certificates and destructive migrations are fixed forward."""
    cases = [
        make_change(id="p", kind="provider", service="stripe", minutes_before=5),
        make_change(id="t", kind="certificate", service="orders", minutes_before=3),
        make_change(id="m", kind="migration", service="orders-db", minutes_before=5,
                    summary="DROP TABLE legacy_orders"),
        make_change(id="d", service="orders", minutes_before=5, details={
            "data_format_changed": True}),
    ]
    for change in cases:
        rec = advise([change])
        assert rec.decision is Decision.FORWARD_FIX, change.id
        assert rec.rollback_target is None
        assert rec.reasons[-1].startswith("cannot roll back: ")


def test_missing_previous_version_uses_history_or_refuses() -> None:
    """Without previous_version the preceding change gives the target; without either, no
    rollback is proposed for a deploy, while a config change can still be reverted."""
    deploy = make_change(id="d1", service="orders", minutes_before=5, previous_version=None)
    earlier = make_change(id="d0", service="orders", minutes_before=600, version="v0.9")
    rec = advise([deploy], previous=earlier)
    assert rec.decision is Decision.ROLLBACK and rec.rollback_target == "orders v0.9 (from d0)"
    assert advise([deploy]).decision is Decision.FORWARD_FIX
    config = make_change(id="c1", kind="config", service="orders", minutes_before=5,
                         version=None, previous_version=None)
    rec = advise([config])
    assert rec.decision is Decision.ROLLBACK and "before c1" in rec.rollback_target


def test_investigate_lists_next_questions() -> None:
    """With no confident suspect the advice is investigate, with specific questions."""
    far = make_change(id="m-old", kind="migration", service="orders-db", minutes_before=20 * 60)
    off = make_change(id="x", service="lonely", minutes_before=4)
    rec = advise([far, off])
    assert rec.decision is Decision.INVESTIGATE
    text = "\n".join(rec.next_questions)
    assert "Heavy migration? m-old" in text
    assert "stripe" in text                      # the provider on the path
    assert "Certificate expiry?" in text
    assert "outside the 24 h window" in text
    assert 0 <= rec.confidence <= 1


def test_investigate_says_where_the_probability_went() -> None:
    """Investigate says whether "no change" explains it best or no lead stands out among many
    weak ones (a busy window): never that no change is confident when it is not."""
    lone = advise([make_change(id="far", service="orders", minutes_before=20 * 60)])
    assert lone.decision is Decision.INVESTIGATE
    assert lone.reasons[0].startswith("no change explains the incident best: no-change "
                                      "hypothesis at")
    crowd = [make_change(id=f"d{i}", service=node, minutes_before=5 + i)
             for i, node in enumerate(["orders", "orders-db", "orders", "orders-db"] * 3)]
    busy = advise(crowd)
    assert busy.decision is Decision.INVESTIGATE
    ranking = rank(crowd, GRAPH, INCIDENT)
    assert ranking.no_change_probability < busy.suspect.probability
    assert busy.reasons[0] == (
        f"no suspect stands out: the best lead holds {busy.suspect.probability:.0%}, the other "
        f"11 changes considered "
        f"{1 - busy.suspect.probability - ranking.no_change_probability:.0%} between them, "
        f"the no-change hypothesis {ranking.no_change_probability:.0%}")


def test_no_changes_at_all() -> None:
    """An empty window is an investigate with full confidence that no change did it."""
    rec = advise([])
    assert rec.decision is Decision.INVESTIGATE and rec.suspect is None
    assert rec.confidence == 1.0


def test_security_updates_and_rollbacks_are_fixed_forward() -> None:
    """Undoing a security update re-opens what it closed; undoing a rollback brings back the
    version someone already rolled back from: both are fixed forward, saying why."""
    security = make_change(id="s", kind="infrastructure", service="orders", minutes_before=4,
                           summary="unattended-upgrades: systemd security update")
    cve = make_change(id="c", service="orders", minutes_before=4, summary="bump libxml2 for "
                      "CVE-2024-25062")
    rollback = make_change(id="r", kind="rollback", service="orders", minutes_before=4)
    for change, why in [(security, "security update"), (cve, "security update"),
                        (rollback, "itself a rollback")]:
        rec = advise([change])
        assert rec.decision is Decision.FORWARD_FIX, change.id
        assert why in rec.reasons[-1]
    plain = make_change(id="p", service="orders", minutes_before=4, summary="security headers "
                        "middleware refactor")
    assert advise([plain]).decision is Decision.ROLLBACK


def test_acting_needs_a_lead_likelier_than_no_change() -> None:
    """A lead above the quick threshold but below the no-change hypothesis is investigated."""
    old = make_change(id="d1", service="orders", minutes_before=200)
    rec = advise([old], quick_rollback_confidence=0.01)
    assert rec.suspect.probability < 0.5
    assert rec.decision is Decision.INVESTIGATE
    assert any("likelier than no change" in r for r in rec.reasons)


def test_a_wide_config_revert_is_one_quick_revert() -> None:
    """Reverting a config pushed to many services is still one revert: not a heavy rollback."""
    wide = make_change(id="cfg", kind="config", services=["orders", "orders-db", "stripe"],
                       minutes_before=5)
    rec = advise([wide])
    assert rec.decision is Decision.ROLLBACK
    assert any(r.startswith("a quick rollback (one revert of the config") for r in rec.reasons)


def test_changes_made_after_the_onset_do_not_make_a_rollback_heavy() -> None:
    """Later changes stacked on the suspect before the onset make its rollback heavy; those
    made after it (the responders' own) are named but do not raise the bar."""
    deploy = make_change(id="d1", service="orders", minutes_before=30, status="failed")
    after = [make_change(id=f"h{i}", kind="rollback", service="orders", minutes_before=-10 - i)
             for i in range(2)]
    before = [make_change(id=f"b{i}", kind="rollback", service="orders", minutes_before=20 - i)
              for i in range(2)]
    light = advise([deploy, *after])
    assert light.decision is Decision.ROLLBACK
    assert {s.change.id for s in light.also_affected} == {"h0", "h1"}
    assert not any("heavy" in r for r in light.reasons)
    heavy = advise([deploy, *before])
    assert heavy.suspect.change.id == "d1" and heavy.decision is Decision.INVESTIGATE
    assert any("it drags 2 later changes stacked on it before the onset" in r
               for r in heavy.reasons)
