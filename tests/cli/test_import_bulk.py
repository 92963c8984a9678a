"""`import` of a file larger than one batch (the store's bulk path): all or nothing, rejected
lines named, --skip-invalid, duplicates counted, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollback_advisor.store import CHUNK, import_lines


def lines(n: int, bad: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    out = []
    for i in range(n):
        event = {"id": f"bulk-{i}", "kind": "deploy", "service": f"svc-{i % 50}",
                 "at": "2026-11-20T14:00:00Z", "version": f"v{i}"}
        if i in bad:
            event["kind"] = "teleport"
        out.append(json.dumps(event))
    return "\n".join(out) + "\n"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, run, monkeypatch: pytest.MonkeyPatch,
              tmp_path: Path):
    if request.param == "postgres":
        monkeypatch.setenv("ROLLBACK_ADVISOR_DATABASE_URL",
                           request.getfixturevalue("postgres_url"))
    return run


def test_a_rejected_line_in_a_large_file_stores_nothing(store_env, tmp_path: Path) -> None:
    run = store_env
    n = 2 * CHUNK + 300
    (tmp_path / "big.jsonl").write_text(lines(n, bad={CHUNK + 17}))
    result = run("import", "big.jsonl", "--format", "json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["stored"], summary["inserted"], summary["rejected"]) == (False, 0, 1)
    assert summary["rejections"][0]["line"] == CHUNK + 18
    assert json.loads(run("changes", "--format", "json").output) == []
    result = run("import", "big.jsonl", "--skip-invalid", "--format", "json")
    assert result.exit_code == 0
    assert (json.loads(result.output)["inserted"], json.loads(result.output)["rejected"]) == (
        n - 1, 1)


def test_a_large_file_with_duplicates(store_env, tmp_path: Path) -> None:
    run = store_env
    n = 2 * CHUNK + 300
    text = lines(n)
    first = text.splitlines()
    # the first 10 lines again at the end (across batches), and line 5 twice in the first batch
    (tmp_path / "dups.jsonl").write_text(
        "\n".join(first[:6] + [first[5]] + first[6:] + first[:10]) + "\n")
    summary = json.loads(run("import", "dups.jsonl", "--format", "json").output)
    assert (summary["inserted"], summary["duplicates"]) == (n, 11)
    summary = json.loads(run("import", "dups.jsonl", "--format", "json").output)
    assert (summary["inserted"], summary["duplicates"]) == (0, n + 11)


def test_a_large_file_prepared_by_a_worker_process(store_env, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Files past PARALLEL_FROM are prepared in a worker process: the same rejections (line
    numbers), all or nothing, and counts."""
    run = store_env
    monkeypatch.setattr(import_lines, "PARALLEL_FROM", 0)
    n = import_lines.BLOCK + CHUNK + 300
    (tmp_path / "big.jsonl").write_text(lines(n, bad={import_lines.BLOCK + 17}))
    result = run("import", "big.jsonl", "--format", "json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 1 and (summary["stored"], summary["inserted"]) == (False, 0)
    assert [r["line"] for r in summary["rejections"]] == [import_lines.BLOCK + 18]
    assert json.loads(run("changes", "--format", "json").output) == []
    summary = json.loads(run("import", "big.jsonl", "--skip-invalid", "--format",
                             "json").output)
    assert (summary["inserted"], summary["duplicates"], summary["rejected"]) == (n - 1, 0, 1)
    summary = json.loads(run("import", "big.jsonl", "--skip-invalid", "--format",
                             "json").output)
    assert (summary["inserted"], summary["duplicates"]) == (0, n - 1)
