"""The CLI runner fixture shared by the CLI tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from rollback_advisor.cli import cli

CASE = (Path(__file__).resolve().parents[1] / "fixtures" / "cases"
        / "online-boutique-payment-deploy.yaml")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Invoke the CLI against a fresh SQLite store in tmp_path; returns the Click result."""
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ROLLBACK_ADVISOR_CONFIG", raising=False)
    monkeypatch.delenv("ROLLBACK_ADVISOR_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def loaded(run, tmp_path: Path):
    """A store holding the Online Boutique case's graph and changes."""
    case = yaml.safe_load(CASE.read_text())
    (tmp_path / "graph.yaml").write_text(yaml.safe_dump(case["graph"]))
    (tmp_path / "changes.jsonl").write_text(
        "\n".join(json.dumps(c) for c in case["changes"]) + "\n")
    assert run("graph", "load", "graph.yaml").exit_code == 0
    result = run("import", "changes.jsonl")
    assert result.exit_code == 0, result.output
    return case
