"""Delivery keys are de-duplicated on a digest of the whole key (issue #10, item 3): two keys
sharing their first 256 characters are two deliveries, on both stores and over HTTP."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rollback_advisor.store import Store
from rollback_advisor.store.service_tables import ServiceTables
from rollback_advisor.web.app import services
from rollback_advisor.web.credentials import register_hook

from ..store.revisions import at_revision
from .conftest import SERVER_KEY
from .test_hooks import github_headers

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hooks" / "github-webhooks-octokit"
PREFIX = "k" * 300


def test_long_keys_sharing_a_prefix_are_two_deliveries(store_url: str) -> None:
    tables = ServiceTables(Store(store_url))
    hook = str(register_hook(tables=tables, server_key=SERVER_KEY, base_url="http://x",
                             name="ci", source="generic", mapping={}, environment=None)["id"])
    keys = [PREFIX + "-a", PREFIX + "-b"]
    for key in keys:
        result = tables.store_delivery(hook_id=hook, delivery_key=key, event="change",
                                       headers={}, body=b"[]", changes=[])
        assert not result.duplicate
    again = tables.store_delivery(hook_id=hook, delivery_key=keys[1], event="change",
                                  headers={}, body=b"[]", changes=[])
    assert again.duplicate
    assert sorted(d["delivery_key"] for d in tables.list_deliveries(hook)) == keys  # whole
    tables.store.close()


def test_over_http(app, client, make_hook):
    hook = make_hook("github", mapping={"Codertocat/Hello-World": "checkout"})
    body = (FIXTURES / "deployment" / "payload.json").read_bytes()
    answers = []
    for key in (PREFIX + "-a", PREFIX + "-b", PREFIX + "-b"):
        r = client.post(f"/hooks/{hook['id']}", data=body,
                        headers=github_headers(body, hook["secret"], "deployment", key))
        answers.append(r.get_json()["status"])
    assert answers == ["stored", "stored", "duplicate"]
    with app.app_context():
        assert services().tables.delivery_count(hook["id"]) == 2


def test_migration_0006_digests_stored_keys(tmp_path: Path) -> None:
    from sqlalchemy import select, text

    from rollback_advisor.store.schema import deliveries

    url = f"sqlite:///{tmp_path / 'old.db'}"
    with at_revision(url, "0005") as conn:
        conn.execute(text("INSERT INTO hooks (id, name, source, mapping, nonce, created_us) "
                          "VALUES ('h1', 'ci', 'generic', '{}', 'n', 1)"))
        conn.execute(text("INSERT INTO deliveries (hook_id, delivery_key, event, received_us, "
                          "headers, body, outcome, change_ids) VALUES ('h1', 'old-key', "
                          "'change', 1, '{}', x'', 'stored', '[]')"))
    store = Store(url)
    tables = ServiceTables(store)
    with store.engine.connect() as conn:
        digest = conn.execute(select(deliveries.c.key_sha256)).scalar()
    assert digest == hashlib.sha256(b"old-key").hexdigest()
    redelivered = tables.store_delivery(hook_id="h1", delivery_key="old-key", event="change",
                                        headers={}, body=b"[]", changes=[])
    assert redelivered.duplicate
    store.close()
