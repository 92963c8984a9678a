"""Only the source that created a change may update it (issue #10, item 2): another hook's
update is a 409 in the one error shape and stores nothing, the delivery included; sync leaves
foreign changes as stored and says so; import never rewrites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rollback_advisor.errors import Conflict
from rollback_advisor.models import change_from_dict
from rollback_advisor.store import Store
from rollback_advisor.web.app import services

from ..store.revisions import at_revision
from .conftest import assert_canonical_error
from .test_hooks import github_headers, post_generic

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hooks" / "github-webhooks-octokit"


def _github_failed_deploy() -> tuple[bytes, str]:
    """A GitHub deployment_status (failure, production): the body and its change id."""
    data = json.loads((FIXTURES / "deployment_status" / "payload.json").read_text())
    data["deployment_status"]["state"] = "failure"
    data["deployment"]["environment"] = "production"
    change_id = (f"github:{data['repository']['full_name']}:deployment:"
                 f"{data['deployment']['id']}")
    return json.dumps(data).encode(), change_id


def _change(app: Any, change_id: str) -> Any:
    with app.app_context():
        return services().store.get_change(change_id)


def test_generic_hook_cannot_rewrite_a_github_change(app, client, make_hook):
    github = make_hook("github", mapping={"Codertocat/Hello-World": "checkout"})
    staging = make_hook("generic", environment="staging", name="staging-ci")
    body, change_id = _github_failed_deploy()
    r = client.post(f"/hooks/{github['id']}", data=body,
                    headers=github_headers(body, github["secret"], "deployment_status", "g-1"))
    assert r.status_code == 201, r.get_json()
    before = _change(app, change_id)
    assert (before.environment, before.status.value) == ("production", "failed")

    forged = {"id": change_id, "kind": "deploy", "service": "checkout",
              "environment": "staging", "status": "succeeded", "at": "2026-11-20T14:00:00Z"}
    r = post_generic(client, staging, forged)
    err = assert_canonical_error(r, 409, "Conflict")
    assert err["details"]["field"] == "id" and err["details"]["change_id"] == change_id
    assert github["id"] not in err["message"]  # says "another hook", never which
    assert _change(app, change_id) == before
    with app.app_context():
        assert services().tables.delivery_count(staging["id"]) == 0
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'reason="not_owner"} 1.0' in metrics


def test_creator_may_update_and_batch_with_a_foreign_id_stores_nothing(app, client,
                                                                       make_hook):
    mine, other = make_hook(name="a"), make_hook(name="b")
    event = {"id": "ci:x:1", "kind": "deploy", "service": "checkout",
             "at": "2026-11-20T14:00:00Z", "status": "in_progress"}
    assert post_generic(client, mine, event).status_code == 201
    done = {**event, "status": "succeeded", "at": "2026-11-20T14:05:00Z"}
    r = post_generic(client, mine, done)
    assert r.status_code == 201 and r.get_json()["updated"] == 1
    batch = [{**event, "id": "ci:x:2"}, {**done, "status": "failed"}]
    assert_canonical_error(post_generic(client, other, batch), 409, "Conflict")
    assert _change(app, "ci:x:2") is None  # nothing of the batch stored
    assert _change(app, "ci:x:1").status.value == "succeeded"


@pytest.fixture
def store(store_url: str) -> Any:
    s = Store(store_url)
    yield s
    s.close()


def _make(status: str = "succeeded", **extra: Any) -> Any:
    return change_from_dict({"id": "c1", "kind": "deploy", "service": "checkout",
                             "at": "2026-11-20T14:00:00Z", "status": status, **extra})


def test_owners_in_the_store(store: Store) -> None:
    """import never rewrites; a sync leaves another owner's change and counts it; a hook's
    update of a synced change is a Conflict on both stores."""
    from rollback_advisor.store.service_tables import ServiceTables
    from rollback_advisor.web.credentials import register_hook

    from .conftest import SERVER_KEY

    assert store.sync_batch("github", [_make("in_progress")], {"page": 1}).inserted == 1
    again = store.add_changes([_make("failed")])  # import: a duplicate, not an update
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 1)
    other = store.sync_batch("gitlab", [_make("failed")], {"page": 1})
    assert (other.updated, other.not_owned) == (0, 1)
    assert store.get_change("c1").status.value == "in_progress"
    mine = store.sync_batch("github", [_make("succeeded")], {"page": 2})
    assert mine.updated == 1 and store.get_change("c1").status.value == "succeeded"

    tables = ServiceTables(store)
    hook = register_hook(tables=tables, server_key=SERVER_KEY, base_url="http://x", name="h",
                         source="generic", mapping={}, environment=None)["id"]
    with pytest.raises(Conflict):
        tables.store_delivery(hook_id=hook, delivery_key="k", event="change", headers={},
                              body=b"{}", changes=[_make("failed")])
    assert tables.delivery_count(hook) == 0
    assert store.get_change("c1").status.value == "succeeded"


@pytest.mark.parametrize("backend", ["sqlite",
                                     pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migration_0005_gives_hook_rows_their_hook(backend: str, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    """Rows a hook stored before 0005 belong to that hook; others (sync, import) may be taken
    over by a sync, never by a hook."""
    from sqlalchemy import select, text

    from rollback_advisor.store import may_update
    from rollback_advisor.store.schema import changes

    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_url"))
    with at_revision(url, "0004") as conn:
        for i, details in enumerate([{"delivery": {"hook": "h1", "delivery_key": "k"}}, {},
                                     {"delivery": {"hook": "h2", "delivery_key": "n"}}]):
            doc = _make(id=f"c{i}", details=details).to_dict()
            if i == 2:  # a NUL that older versions stored (PostgreSQL's JSONB refuses it)
                doc["summary"] = "a\x00b"
            conn.execute(text(
                "INSERT INTO changes (id, kind, environment, at_us, start_us, status, "
                "is_global, doc, ingested_us, services, destructive) VALUES "
                "(:id, 'deploy', 'production', 1, 1, 'succeeded', false, :doc, 1, 'checkout', "
                "false)"), {"id": f"c{i}", "doc": json.dumps(doc)})
    s = Store(url)
    with s.engine.connect() as conn:
        owners = dict(conn.execute(select(changes.c.id, changes.c.owner)).all())
    s.close()
    assert owners == {"c0": "hook:h1", "c1": None, "c2": "hook:h2"}
    assert may_update(None, "sync:github") and not may_update(None, "hook:h2")


@pytest.mark.parametrize("order, final", [
    (["in_progress@00", "failed@03"], "failed"),
    (["failed@03", "in_progress@00"], "failed"),   # arrived late: never back to in progress
    (["in_progress@05", "failed@03"], "failed"),   # a finish ends a rollout, clocks aside
    (["failed@03", "succeeded@01"], "failed"),     # older than what is stored
    (["failed@03", "succeeded@07"], "succeeded"),  # newer: applies
    (["in_progress@00", "in_progress@02"], "in_progress"),
])
def test_status_updates_apply_in_their_own_time(store: Store, order: list[str],
                                                final: str) -> None:
    for step in order:
        value, minute = step.split("@")
        store.sync_batch("ci", [_make(value, at=f"2026-11-20T14:{minute}:00Z")], {})
    stored = store.get_change("c1")
    assert stored.status.value == final
    assert stored.at.minute == int(next(s for s in reversed(order)
                                        if s.startswith(final)).split("@")[1])


def test_github_statuses_apply_in_order_through_the_hook(app, client, make_hook):
    """deployment (in progress), then success, then a late in-progress status: the change ends
    succeeded; each GitHub delivery has its own X-GitHub-Delivery (issue #10, item 4)."""
    hook = make_hook("github", mapping={"Codertocat/Hello-World": "checkout"})
    body, change_id = _github_failed_deploy()
    data = json.loads(body)
    created = json.dumps({k: data[k] for k in ("deployment", "repository", "sender")}
                         | {"action": "created"}).encode()
    success = json.loads(body)
    success["deployment_status"]["state"] = "success"
    late = json.loads(body)
    late["deployment_status"]["state"] = "in_progress"
    for n, (event, payload) in enumerate([("deployment", created),
                                          ("deployment_status", json.dumps(success).encode()),
                                          ("deployment_status", json.dumps(late).encode())]):
        r = client.post(f"/hooks/{hook['id']}", data=payload,
                        headers=github_headers(payload, hook["secret"], event, f"g-{n}"))
        assert r.status_code == 201, r.get_json()
        if n == 0:
            assert _change(app, change_id).status.value == "in_progress"
    assert _change(app, change_id).status.value == "succeeded"
