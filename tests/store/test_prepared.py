"""``import``'s prepared rows (store/prepared.py) store exactly what the per-change path
(``change_from_dict`` + ``Store.add_changes``) stores, column by column, and every line the
fast path cannot vouch for goes to the validator (same errors)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import change_from_dict
from rollback_advisor.store import CHUNK, Store
from rollback_advisor.store.import_lines import BLOCK, read_lines
from rollback_advisor.store.prepared import prepare, prepare_change, prepare_line
from rollback_advisor.store.schema import change_services, changes, store_meta

T0 = datetime(2026, 11, 20, tzinfo=UTC)
ODD_DETAILS: list[dict[str, Any]] = [
    {"rollout_percentage": 25}, {"rollout_percentage": 12.5}, {"rollout_percentage": True},
    {"rollout_percentage": "50"}, {"rollout_percentage": 1e16, "note": "big float"},
    {"sql": "ALTER TABLE orders DROP COLUMN legacy_total"},
    {"statements": ["CREATE INDEX ix ON t (a)", "DROP TABLE audit"]},
    {"nested": {"b": [1, 2.5, None, False], "a": {"z": "é"}}}, {"n": 10**30}, {}, None,
]
ODD_SCOPES: list[Any] = [
    {"region": ["us-east-1"]}, {"region": ["eu-west-1", "us-east-1", "eu-west-1"]},
    {"zone": ["b", "a"], "region": ["x"]}, {}, None,
]


def ts(at: datetime, style: int) -> str:
    """RFC 3339 in the forms producers write: Z, z, offsets, fractions, padding."""
    return [at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            at.astimezone(UTC).isoformat(), at.strftime("%Y-%m-%dT%H:%M:%S.%fz"),
            at.astimezone(datetime.now().astimezone().tzinfo).isoformat(),
            at.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="seconds"),
            " " + at.strftime("%Y-%m-%dT%H:%M:%SZ ")
            ][style % 7]


def events(n: int, seed: int) -> list[dict[str, Any]]:
    """Changes with every optional field in play, repeated ids within and across chunks, and
    deploys back to earlier versions (the redeploy rule) within and across chunks."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        kind = rng.choice(["deploy"] * 5 + ["migration", "config", "feature_flag",
                                            "rollback", "infrastructure"])
        at = T0 - timedelta(minutes=rng.randrange(0, 60 * 24 * 30), seconds=rng.random())
        service = f"svc-{rng.randrange(40)}"
        event: dict[str, Any] = {"id": f"ev:{i}", "kind": kind, "at": ts(at, rng.randrange(7)),
                                 "service": service}
        roll = rng.random()
        if roll < 0.05:
            del event["service"]
            event["services"] = ["*"]
        elif roll < 0.1:
            del event["service"]
            event["services"] = [service, "svc-x", service]
        if rng.random() < 0.8:  # a few versions per service, so deploys go back to them
            event["version"] = f"v{rng.randrange(4)}"
        if rng.random() < 0.3:
            event["started_at"] = ts(at - timedelta(minutes=rng.randrange(1, 40)),
                                     rng.randrange(7))
        if rng.random() < 0.3:
            event["scope"] = rng.choice(ODD_SCOPES)
        if rng.random() < 0.2:
            event["status"] = rng.choice(["failed", "in_progress", "succeeded"])
        if rng.random() < 0.2:
            event["details"] = rng.choice(ODD_DETAILS)
        if rng.random() < 0.1:
            event["reversible"] = rng.choice([True, False, None])
        if rng.random() < 0.1:
            event["environment"] = rng.choice(["staging", "prod-eu"])
        if rng.random() < 0.2:
            event["summary"] = rng.choice(["DROP TABLE users", "ship it", "naïve 🚀 café",
                                           'quote " and back\\slash', "tab\there"])
        for name in ("previous_version", "author", "url", "source"):
            if rng.random() < 0.2:
                event[name] = rng.choice([f"{name}-1", "x" * 3, None])
        out.append(event)
    # the same id again: later in the same chunk (last wins) and in a later chunk (a duplicate)
    out[5:5] = [dict(out[7], summary="repeated in its chunk")]
    out.append(dict(out[3], summary="repeated in a later chunk"))
    return out


def lines_of(items: list[dict[str, Any]]) -> list[bytes]:
    rng = random.Random(1)
    return [(json.dumps(e, ensure_ascii=rng.random() < 0.5) + "\n").encode() for e in items]


def stored(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row (changes without ingested_us, service rows, store_meta)."""
    cols = [c for c in changes.c if c.name != "ingested_us"]
    with store.engine.connect() as conn:
        return {"changes": [tuple(r) for r in conn.execute(select(*cols).order_by(changes.c.id))],
                "services": [tuple(r) for r in conn.execute(
                    select(change_services).order_by(change_services.c.change_id,
                                                     change_services.c.service))],
                "meta": [tuple(r) for r in conn.execute(select(store_meta)
                                                        .order_by(store_meta.c.key))]}


def wipe(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(change_services.delete())
        conn.execute(changes.delete())
        conn.execute(store_meta.delete())


@pytest.mark.parametrize("n", [150, 2 * CHUNK + 345])  # one small chunk; bulk chunks
def test_prepared_import_stores_what_the_per_change_path_stores(store: Store, n: int) -> None:
    lines = lines_of(events(n, seed=n))
    old = store.add_changes([change_from_dict(json.loads(line)) for line in lines],
                            checked=True)
    before = stored(store)
    wipe(store)
    new = store.import_prepared(prepare(line) for line in lines)
    after = stored(store)
    assert new == old and old.duplicates == 2
    assert len(after["changes"]) == n and any(r[1] == "rollback" and "redeploy" in r[8]
                                              for r in after["changes"])
    for table in before:
        assert after[table] == before[table], table
    # and again: every line a duplicate, nothing rewritten
    assert store.import_prepared(prepare(line) for line in lines).duplicates == n + 2
    assert stored(store) == after


def test_fast_rows_equal_the_validators_rows() -> None:
    """Most lines take the fast path, and each of its rows is the validator's row."""
    lines = lines_of(events(600, seed=3))
    fast = [(line, prepare_line(line)) for line in lines]
    assert sum(p is not None for _, p in fast) > len(lines) * 0.6
    for line, p in fast:
        if p is not None:
            slow = prepare_change(change_from_dict(json.loads(line)))
            assert (p.row, p.id, p.kind, p.services, p.environment, p.version, p.status,
                    p.at_us, p.start_us) == (slow.row, slow.id, slow.kind, slow.services,
                                             slow.environment, slow.version, slow.status,
                                             slow.at_us, slow.start_us)
            assert p.change() == slow.change()


BAD_LINES = [
    '{"id": "a", "kind": "teleport", "service": "s", "at": "2026-11-20T14:00:00Z"}',
    '{"id": " ", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "1960-01-01T00:00:00Z"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "tomorrow"}',
    '{"id": "a", "kind": "deploy", "service": "s"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": null}',
    '{"id": "a", "kind": "deploy", "service": "s", "services": ["t"], '
    '"at": "2026-11-20T14:00:00Z"}',
    '{"id": "a", "kind": "deploy", "service": "", "at": "2026-11-20T14:00:00Z"}',
    '{"id": "a", "kind": "deploy", "services": [], "at": "2026-11-20T14:00:00Z"}',
    '{"id": "a", "kind": "deploy", "services": ["s", ""], "at": "2026-11-20T14:00:00Z"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"started_at": "2026-11-20T15:00:00Z"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"environment": null}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"environment": ""}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"status": null}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"status": "done"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"reversible": 1}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"version": 2}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"details": []}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"details": {"x": NaN}}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"scope": {"region": []}}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"scope": {" ": ["x"]}}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"scope": ["x"]}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"colour": "red"}',
    '{"id": "a\\u0000", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z"}',
    '{"id": "\\ud800", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"details": {"d": ' + "[" * 40 + "]" * 40 + "}}",
    '{"id": "' + "i" * 513 + '", "kind": "deploy", "service": "s", '
    '"at": "2026-11-20T14:00:00Z"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z", '
    '"source": "' + "s" * 129 + '"}',
    '{"id": "a", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z"} x',
    '["not", "an", "object"]',
]


@pytest.mark.parametrize("text", BAD_LINES)
def test_a_refused_line_never_takes_the_fast_path(text: str) -> None:
    """The validator alone answers a bad line, so its message is the one reported."""
    line = text.encode()
    assert prepare_line(line) is None
    with pytest.raises((InvalidInput, ValueError)) as fast:
        prepare(line)
    with pytest.raises((InvalidInput, ValueError)) as slow:
        change_from_dict(json.loads(line))
    assert str(fast.value) == str(slow.value)


def test_invalid_utf8_is_the_validators_to_refuse() -> None:
    line = b'{"id": "\xff", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00Z"}'
    assert prepare_line(line) is None
    with pytest.raises(UnicodeDecodeError):
        prepare(line)



def test_a_worker_process_answers_what_the_serial_reader_does() -> None:
    """read_lines in a worker process: the same rows, rejections and line numbers, in order,
    across blocks, with blank lines and bad lines among them."""
    lines = lines_of(events(2 * BLOCK + 77, seed=5))
    lines[10:10] = [b"\n", b"   \n"]
    lines[BLOCK - 1] = b'{"id": "x", "kind": "teleport"}\n'
    lines[BLOCK + 3] = b"{not json\n"
    lines.append(b'{"id": "y", "kind": "deploy", "service": "s", "at": "2026-11-20T14:00:00"}')
    serial = list(read_lines(lines, parallel=False))
    read: list[int] = []
    parallel = list(read_lines(lines, parallel=True, progress=read.append))
    assert sum(read) == sum(map(len, lines))
    assert [n for n, _ in parallel] == [n for n, _ in serial] and len(serial) == len(lines) - 2
    for (_, a), (_, b) in zip(parallel, serial, strict=True):
        if isinstance(b, str):
            assert a == b
        else:
            assert not isinstance(a, str)
            assert (a.row, a.services, a.change()) == (b.row, b.services, b.change())
    reasons = {n: r for n, r in serial if isinstance(r, str)}
    assert sorted(reasons) == [BLOCK, BLOCK + 4, len(lines)]
    assert reasons[BLOCK].startswith("kind:") and reasons[BLOCK + 4].startswith("not JSON:")



def test_without_fork_a_large_file_is_read_serially(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no worker can be forked (Windows) the reader answers serially, the same."""
    import multiprocessing

    from rollback_advisor.store import import_lines

    lines = lines_of(events(300, seed=6))
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(import_lines, "ProcessPoolExecutor", None)  # never started
    got = list(read_lines(lines, parallel=True))
    assert [(n, p.row) for n, p in got] == [
        (n, p.row) for n, p in read_lines(lines, parallel=False)]  # type: ignore[union-attr]

_BASE: dict[str, Any] = {
    "id": "e1", "kind": "migration", "service": "svc", "at": "2026-11-20T14:00:00Z",
    "version": "v1", "previous_version": "v0", "summary": "ship", "author": "a", "url": "u",
    "source": "s", "started_at": "2026-11-20T13:50:00+01:00", "status": "succeeded",
    "environment": "production", "scope": {"region": ["us-east-1"]},
    "details": {"rollout_percentage": 50, "sql": "ALTER TABLE t DROP COLUMN c"},
    "reversible": True}
_ODD: list[Any] = [
    None, True, False, 0, -1, 1.5, 1e308, 2**64, "", " ", "x" * 600, "deploy", "failed",
    "in_progress", "2026-11-20T14:00:00", "2026-11-20T14:00:00+14:00", "2026-02-30T00:00:00Z",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "*", [], ["a"], ["*"], ["a", "a"], [""],
    [1], {}, {"region": []}, {"region": ["b", "a"]}, {"region": "a"}, {"": ["a"]},
    {"rollout_percentage": 101}, {"rollout_percentage": "7"}, {"rollout_percentage": 12.5},
    {"rollout_percentage": True}, {"sql": "DROP TABLE x"}, "é",
    "\u2028", "🚀", "DROP TABLE users"]


def _agree(event: dict[str, Any]) -> bool:
    """Whether the fast path answered for ``event``; when it did, the validator accepts the
    same line and builds the same row."""
    line = json.dumps(event, ensure_ascii=False).encode()
    fast = prepare_line(line)
    if fast is None:
        return False
    slow = prepare_change(change_from_dict(json.loads(line)))
    assert (fast.row, fast.services) == (slow.row, slow.services), line
    return True


def test_the_fast_path_agrees_with_the_validator_on_every_single_odd_field() -> None:
    """Each field of a full event given each odd value (or removed), one at a time."""
    answered = 0
    for key in [*_BASE, "services", "extra"]:
        answered += _agree({k: v for k, v in _BASE.items() if k != key})
        for value in _ODD:
            answered += _agree({**_BASE, key: value})
    assert answered > 100  # the fast path is exercised, not bypassed


@given(st.lists(st.tuples(st.sampled_from([*_BASE, "services", "extra"]),
                          st.sampled_from(range(len(_ODD) + 1))), max_size=3))
@settings(max_examples=400, deadline=None)
def test_the_fast_path_agrees_with_the_validator_on_odd_events(edits: list[Any]) -> None:
    """Up to three fields at once given odd values (or removed)."""
    event = dict(_BASE)
    for key, which in edits:
        if which == len(_ODD):
            event.pop(key, None)
        else:
            event[key] = _ODD[which]
    _agree(event)
