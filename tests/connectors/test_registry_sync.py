"""The registry, ``run_sync`` and the ``sync`` command end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner

from connectors import REGISTRY, ConnectorContext, load_connector
from connectors.base import ConnectorUnavailable
from connectors.sync import exit_code, run_sync
from rollback_advisor.cli import cli
from rollback_advisor.config import Settings, load_settings, settings_from_dict
from rollback_advisor.errors import ConfigError
from rollback_advisor.store import open_store

from .vcs_fixtures import payload

ROOT = Path(__file__).resolve().parents[2]
COUNTING = "tests.connectors.registry_doubles:CountingSource"
GHOST = "tests.connectors.missing_library_double:Ghost"


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "counting", COUNTING)
    monkeypatch.setitem(REGISTRY, "ghost", GHOST)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    s = open_store(None, tmp_path)
    yield s
    s.close()


def test_every_registered_connector_imports() -> None:
    """Each import string names a class with ``from_config`` (a typo fails here, not in prod)."""
    for name in ("github", "gitlab"):
        assert name in REGISTRY
    for name, target in REGISTRY.items():
        module, _, attr = target.partition(":")
        cls = getattr(__import__(module, fromlist=[attr]), attr)
        assert hasattr(cls, "from_config"), name


def test_the_core_does_not_import_connectors() -> None:
    """Loading the CLI imports neither ``connectors``, a vendor library nor Flask."""
    code = ("import sys, rollback_advisor.cli; "
            "print(sorted(m for m in ('connectors', 'github', 'gitlab', 'flask') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_library_is_skipped_unless_explicit() -> None:
    """Auto sections are skipped with one line; explicit ones raise ConnectorUnavailable."""
    table = {"ghost": GHOST}
    warned: list[str] = []
    ctx = ConnectorContext(warn=warned.append)
    assert load_connector("ghost", {}, explicit=False, context=ctx, registry=table) is None
    assert warned == ["skipped ghost: rollback_advisor_no_such_vendor_library is not "
                      "installed: pip install rollback_advisor_no_such_vendor_library"]
    with pytest.raises(ConnectorUnavailable, match="is not installed"):
        load_connector("ghost", {}, explicit=True, context=ctx, registry=table)


def test_unknown_connector_and_alias() -> None:
    """A section names a registered connector, by its own name or by ``connector:``."""
    with pytest.raises(ConfigError, match=r"connectors\.jira: no connector named 'jira'"):
        load_connector("jira", {}, explicit=False)
    source = load_connector("ghe", {"connector": "github", "repos": ["a/b"]}, explicit=True)
    assert source is not None and source.name == "ghe"


def test_run_sync_stores_batches_and_resumes(doubles: None, store: Any) -> None:
    """Each batch is stored with its cursor; the next run resumes after it."""
    settings = Settings(connectors={"counting": {"count": 3}})
    (report,) = run_sync(store, settings)
    assert (report.status, report.added, report.batches, report.skipped) == ("ok", 3, 3, 1)
    assert store.get_cursor("counting") == {"seen": 3}
    (again,) = run_sync(store, Settings(connectors={"counting": {"count": 4}}))
    assert (again.added, again.batches) == (1, 1)


def test_run_sync_hands_the_environment_map_to_connectors(monkeypatch: pytest.MonkeyPatch,
                                                          store: Any) -> None:
    """The top-level ``environment_map`` reaches every connector through its context."""
    monkeypatch.setitem(REGISTRY, "echo", "tests.connectors.registry_doubles:EnvironmentEcho")
    settings = settings_from_dict({
        "environment_map": [{"match": "production/(?P<region>.+)", "environment": "production"}],
        "connectors": {"echo": {"environment": "production/us-east-1"}}})
    (report,) = run_sync(store, settings)
    assert report.added == 1, report
    change = store.get_change("echo:1")
    assert (change.environment, change.scope) == ("production", {"region": ("us-east-1",)})


def test_a_failing_source_does_not_stop_the_others(doubles: None, store: Any) -> None:
    """A failure is one line; what came before it is kept; other sources still run."""
    settings = Settings(connectors={
        "bad": {"connector": "counting", "count": 3, "fail": "HTTP 500 from vendor"},
        "ghost": {},
        "off": {"connector": "counting", "enabled": False},
        "good": {"connector": "counting", "count": 1},
    })
    progress: list[str] = []
    reports = run_sync(store, settings, progress=progress.append)
    by = {r.source: r for r in reports}
    assert by["bad"].status == "failed" and by["bad"].error == "bad: HTTP 500 from vendor"
    assert by["bad"].added == 1 and store.get_cursor("bad") == {"seen": 1}
    assert by["ghost"].status == "skipped" and "is not installed" in by["ghost"].error
    assert by["off"].status == "skipped"
    assert by["good"].status == "ok" and by["good"].added == 1
    assert exit_code(reports) == 1
    assert "bad: failed: bad: HTTP 500 from vendor" in progress


def test_only_makes_a_section_explicit(doubles: None, store: Any) -> None:
    """``--source NAME`` runs that section alone; a missing library is then a failure."""
    settings = Settings(connectors={"ghost": {}, "counting": {"count": 1}})
    (report,) = run_sync(store, settings, only="ghost")
    assert report.status == "failed" and "is not installed" in report.error
    with pytest.raises(ConfigError, match="--source nope: no connectors.nope section"):
        run_sync(store, settings, only="nope")


def test_invalid_section_fails_that_source_only(doubles: None, store: Any) -> None:
    """A config error in one section is that source's one-line failure."""
    settings = Settings(connectors={"counting": {"cuont": 1},
                                    "other": {"connector": "counting", "count": 1}})
    first, second = run_sync(store, settings)
    assert first.status == "failed" and first.error.startswith("connectors.counting.cuont")
    assert second.status == "ok"


def test_config_example_loads_without_secrets() -> None:
    """The documented example stays loadable with no GITHUB_TOKEN in the environment."""
    settings = load_settings(ROOT / "config.example.yaml", environ={})
    assert isinstance(settings.connectors, dict)


# -- the command end to end ---------------------------------------------------------------

API = "https://github.example.test/api/v3"
WIRE = "https://github.example.test:443/api/v3"


def test_sync_command_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sync`` through Click stores GitHub deployments in SQLite; a second run adds nothing
    and spends one request; the graph's repo annotation maps the service."""
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    config = tmp_path / "rollback-advisor.yaml"
    config.write_text(
        "connectors:\n"
        "  github:\n"
        f"    base_url: {API}\n"
        "    token: {$env: GITHUB_TOKEN}\n"
        "    repos: [acme/checkout]\n", encoding="utf-8")
    graph = tmp_path / "graph.yaml"
    graph.write_text("services:\n  checkout:\n    repo: github:Acme/Checkout\n", encoding="utf-8")
    runner = CliRunner()
    base = ["--config", str(config)]
    assert runner.invoke(cli, [*base, "graph", "load", str(graph)]).exit_code == 0
    deployments = payload("github/deployments.json")
    with responses.RequestsMock() as mock:
        mock.get(f"{WIRE}/repos/acme/checkout/deployments", json=deployments)
        for n, name in ((5001, "success"), (5002, "failure"), (5003, "success")):
            mock.get(f"{WIRE}/repos/Acme/Checkout/deployments/{n}/statuses",
                     json=payload(f"github/statuses_{name}.json"))
        mock.get(f"{WIRE}/repos/acme/checkout/compare/{'a1' * 20}...{'b2' * 20}",
                 json=payload("github/compare.json"))
        mock.get(f"{WIRE}/repos/acme/checkout/compare/{'a1' * 20}...{'c3' * 20}",
                 json=payload("github/compare.json"))
        result = runner.invoke(cli, [*base, "sync", "--format", "json"])
        assert result.exit_code == 0, result.output + str(result.exception)
        report = json.loads(result.stdout)
        assert report["ok"] is True
        (source,) = report["sources"]
        assert (source["source"], source["added"], source["status"]) == ("github", 3, "ok")
        mock.calls.reset()
        again = runner.invoke(cli, [*base, "sync", "--source", "github"])
        assert again.exit_code == 0, again.output
        assert "github: 0 added, 0 updated" in again.stdout
        assert len(mock.calls) == 1
    listed = runner.invoke(cli, [*base, "changes", "--format", "json"])
    ids = {c["id"]: c for c in json.loads(listed.stdout)}
    assert set(ids) == {f"github:Acme/Checkout:deployment:{n}" for n in (5001, 5002, 5003)}
    assert {c["service"] for c in ids.values()} == {"checkout"}


def test_sync_command_reports_failure_with_exit_code(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad credentials: one line on stdout, exit code 1, nothing else printed as a traceback."""
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATA_DIR", str(tmp_path / "data"))
    config = tmp_path / "c.yaml"
    config.write_text("connectors:\n  github:\n    base_url: " + API + "\n"
                      "    token: wrong\n    repos: [acme/checkout]\n", encoding="utf-8")
    with responses.RequestsMock() as mock:
        mock.get(f"{WIRE}/repos/acme/checkout/deployments", status=401,
                 json=payload("github/error_bad_credentials.json"))
        result = CliRunner().invoke(cli, ["--config", str(config), "sync"])
    assert result.exit_code == 1
    assert result.stdout.strip() == (
        "github: failed: github acme/checkout: bad credentials (HTTP 401): check "
        "connectors.github.token (a token with repo and deployment read access)")
    assert "Traceback" not in result.output


def test_sync_help_and_bad_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sync --help`` shows the options; an unknown ``--source`` is one error line."""
    monkeypatch.setenv("ROLLBACK_ADVISOR_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    shown = runner.invoke(cli, ["sync", "--help"])
    assert shown.exit_code == 0 and "--source NAME" in shown.output
    bad = runner.invoke(cli, ["sync", "--source", "nope"])
    assert bad.exit_code == 1 and "error: --source nope" in bad.output


def test_config_example_documents_every_vcs_key() -> None:
    """The commented github and gitlab sections, uncommented, validate and name every key."""
    import yaml

    from connectors.github import KEYS as GITHUB_KEYS
    from connectors.github import GitHubConfig
    from connectors.gitlab import KEYS as GITLAB_KEYS
    from connectors.gitlab import GitLabConfig
    from rollback_advisor.config import resolve_secrets

    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    tail = text.split("connectors: {}\n", 1)[1]
    last = "#    batch_size: 50\n"
    end = tail.index(last, tail.index("#  gitlab:")) + len(last)
    lines = [line[1:] for line in tail[:end].splitlines()]
    doc = resolve_secrets(yaml.safe_load("\n".join(lines)),
                          {"GITHUB_TOKEN": "t", "GITLAB_TOKEN": "t"})
    assert set(doc["github"]) == set(GITHUB_KEYS)
    assert set(doc["gitlab"]) == set(GITLAB_KEYS)
    GitHubConfig.from_section(doc["github"])
    GitLabConfig.from_section(doc["gitlab"])


def test_config_example_connector_sections_all_validate() -> None:
    """Uncommented, the example's whole ``connectors`` block is one YAML mapping (one comment
    indentation throughout), naming every registered connector, and each section validates."""
    import importlib

    import yaml

    from rollback_advisor.config import resolve_secrets

    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    tail = text.split("connectors: {}\n", 1)[1]
    doc = resolve_secrets(yaml.safe_load("\n".join(line[1:] for line in tail.splitlines())),
                          {"GITHUB_TOKEN": "t", "GITLAB_TOKEN": "t",
                           "ORDERS_DB_URL": "sqlite://"})
    assert sorted(doc) == sorted(REGISTRY)
    for name, section in doc.items():
        module, _, attr = REGISTRY[name].partition(":")
        source = getattr(importlib.import_module(module), attr).from_config(
            section, ConnectorContext(), name=name)
        assert source.name == name
