"""The busy-day generator (benchmarks/busy_day.py): what it adds, and what it must leave alone."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from rollback_advisor.cases import case_from_dict, load_case
from rollback_advisor.graph import DependencyGraph
from rollback_advisor.graph_import import from_design
from rollback_advisor.timeutil import parse_rfc3339

ROOT = Path(__file__).resolve().parents[2]
WAF = ROOT / "benchmarks" / "cases" / "cloudflare-2019-07-02-waf-regex.yaml"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("busy_day", ROOT / "benchmarks" / "busy_day.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["busy_day"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


busy_day = _script()

# A small case with symptoms and a scope in a label other than region (cells).
CELLS: dict[str, Any] = {
    "name": "cells-and-symptoms",
    "description": "hand-made: a config push to the session store breaks login in cell-3",
    "graph": {"services": {
        "web": {"endpoints": {"POST /login": {"depends_on": ["auth"]}},
                "depends_on": ["auth", "search"]},
        "auth": {"depends_on": ["sessions"]},
        "sessions": {"type": "datastore"},
        "search": {},
        "billing": {"depends_on": ["ledger"]},
        "ledger": {"type": "datastore"},
        "stripe": {"type": "provider"},
        "payments": {"depends_on": ["stripe"]},
    }},
    "changes": [
        {"id": "cfg-sessions-ttl", "kind": "config", "service": "sessions",
         "at": "2026-03-02T10:00:00Z", "scope": {"cell": ["cell-3"]}},
        {"id": "d-search-7", "kind": "deploy", "service": "search",
         "at": "2026-03-02T09:55:00Z", "version": "v7", "previous_version": "v6"},
        {"id": "bg-00001", "kind": "deploy", "service": "billing",
         "at": "2026-03-02T09:00:00Z"},
    ],
    "incident": {"target": "web:POST /login", "started_at": "2026-03-02T10:02:00Z",
                 "symptoms": [{"node": "auth", "started_at": "2026-03-02T10:03:00Z"},
                              {"node": "payments", "started_at": "2026-03-02T10:04:00Z"}],
                 "scope": {"cell": ["cell-3"]}},
    "expect": {"culprit": "cfg-sessions-ttl", "decision": "rollback"},
}


def _waf() -> dict[str, Any]:
    return yaml.safe_load(WAF.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def busy() -> dict[str, Any]:
    return busy_day.busy_case(CELLS, seed=1)


@pytest.fixture(scope="module")
def busy_waf() -> dict[str, Any]:
    return busy_day.busy_case(_waf(), seed=1)


def _routine(doc: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    own = {c["id"] for c in CELLS["changes"]}
    return [c for c in doc["changes"] if c["id"].startswith(prefix) and c["id"] not in own]


def test_background_organisation_is_big_and_apart(busy: dict[str, Any]) -> None:
    """At least 300 background nodes, with dependencies among themselves only: none of the
    case's nodes reaches one, and none of them depends on a case node."""
    services = busy["graph"]["services"]
    background = {n: s for n, s in services.items() if n not in CELLS["graph"]["services"]}
    assert len(background) >= 300 and all(n.startswith("bg-") for n in background)
    assert all(d in background for spec in background.values()
               for d in spec.get("depends_on", ()))
    assert sum(bool(spec.get("depends_on")) for spec in background.values()) >= 200
    graph = DependencyGraph.from_document(from_design(busy["graph"]))
    for node in CELLS["graph"]["services"]:
        assert not any(n.startswith("bg-") for n in graph.reach_from(node))
    assert not any(n.startswith("bg-") for n in graph.global_nodes)


def test_a_thousand_routine_changes_a_day(busy: dict[str, Any]) -> None:
    onset = parse_rfc3339(CELLS["incident"]["started_at"])
    day = [c for c in busy["changes"][len(CELLS["changes"]):]
           if onset - timedelta(hours=24) <= parse_rfc3339(c["at"]) < onset]
    assert len(day) >= 1000
    kinds = Counter(c["kind"] for c in day)
    assert kinds.most_common(1)[0][0] == "deploy"
    assert {"config", "feature_flag", "migration", "infrastructure"} <= set(kinds)
    assert all(c["reversible"] for c in day if c["kind"] == "migration")
    statuses = Counter(c["status"] for c in day)
    assert 0 < statuses["failed"] < 0.06 * len(day)
    envs = Counter(c["environment"] for c in day)
    assert envs["production"] > 0.9 * len(day) and envs["staging"] > 0


def test_on_path_services_change_about_one_and_a_half_times_a_day(busy: dict[str, Any]) -> None:
    """Routine changes land on what the target and the symptoms depend on (providers and
    off-path nodes excepted), about 1.5 a day each, before and after the onset."""
    routine = [c for c in busy["changes"] if c["id"].startswith("rt-")]
    per_node = Counter(c["service"] for c in routine)
    # target web:POST /login -> web, auth, sessions; symptom auth; symptom payments -> payments
    # (stripe is a provider); search, billing, ledger are off every failing path.
    assert set(per_node) == {"web", "auth", "sessions", "payments"}
    days = (busy_day.ON_PATH_SPAN[1] - busy_day.ON_PATH_SPAN[0]) / timedelta(days=1)
    rate = sum(per_node.values()) / len(per_node) / days
    assert 1.0 <= rate <= 2.0
    onset = parse_rfc3339(CELLS["incident"]["started_at"])
    times = [parse_rfc3339(c["at"]) for c in routine]
    assert min(times) < onset - timedelta(days=3) and max(times) > onset + timedelta(hours=6)
    assert {c["kind"] for c in routine} == {"deploy", "config"}


def test_waf_case_rates(busy_waf: dict[str, Any]) -> None:
    onset = parse_rfc3339(busy_waf["incident"]["started_at"])
    routine = [c for c in busy_waf["changes"] if c["id"].startswith(("bg-", "rt-"))]
    day = [c for c in routine if onset - timedelta(hours=24) <= parse_rfc3339(c["at"]) < onset]
    assert len(day) >= 1000
    per_node = Counter(c["service"] for c in routine if c["id"].startswith("rt-"))
    assert set(per_node) == {"edge-proxy", "waf", "cache", "tls-termination", "keyless-ssl",
                             "quicksilver"}
    assert 1.0 <= sum(per_node.values()) / len(per_node) / 8 <= 2.0


def test_ids_never_collide(busy: dict[str, Any]) -> None:
    """The case already holds an id shaped like a generated one (bg-00001)."""
    ids = [c["id"] for c in busy["changes"]]
    assert len(ids) == len(set(ids))
    generated = ids[len(CELLS["changes"]):]
    assert all(i.startswith(("bg-", "rt-")) for i in generated)
    assert "bg-00001" not in generated


def test_the_case_itself_is_untouched(busy: dict[str, Any], busy_waf: dict[str, Any]) -> None:
    for original, variant in ((CELLS, busy), (_waf(), busy_waf)):
        n = len(original["changes"])
        assert variant["changes"][:n] == original["changes"]
        assert variant["incident"] == original["incident"]
        assert variant["expect"] == original["expect"]
        assert variant["name"] == original["name"]
        for node, spec in original["graph"]["services"].items():
            assert variant["graph"]["services"][node] == spec
    # ... and the input document was not mutated on the way.
    assert len(CELLS["graph"]["services"]) == 8 and len(CELLS["changes"]) == 3


def test_scope_uses_the_incidents_labels_for_the_cases_own_services(busy: dict[str, Any]) -> None:
    routine = [c for c in busy["changes"] if c["id"].startswith("rt-")]
    background = [c for c in busy["changes"] if c["id"].startswith("bg-")][1:]
    scoped = [c["scope"] for c in routine if "scope" in c]
    assert 0.6 * len(routine) < len(scoped) < len(routine)  # some have no scope (unknown)
    assert all(set(s) == {"cell", "region"} for s in scoped)
    cells = {v for s in scoped for v in s["cell"]}
    assert "cell-3" in cells and len(cells) >= 6
    single = [s for s in scoped if len(s["cell"]) == 1]
    assert len(single) > len(scoped) / 2
    regions = Counter(s["region"][0] for s in (c.get("scope") for c in background)
                      if s and len(s["region"]) == 1)
    assert len(regions) == 6
    assert all(set(c["scope"]) == {"region"} for c in background if "scope" in c)


def test_versions_chain_per_service(busy: dict[str, Any]) -> None:
    """Each deploy's previous version is the last one that succeeded on that service."""
    live: dict[tuple[str, str, str], str] = {}
    chains: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    for c in busy["changes"][len(CELLS["changes"]):]:
        if c["kind"] != "deploy":
            continue
        key = (c["service"], c["kind"], c["environment"])
        if key in live:
            assert c["previous_version"] == live[key]
        if c["status"] == "succeeded":
            live[key] = c["version"]
        chains[key] += 1
    assert max(chains.values()) >= 5


def test_written_files_load_and_keep_the_answer(tmp_path: Path) -> None:
    source = tmp_path / "cells.yaml"
    source.write_text(yaml.safe_dump(CELLS), encoding="utf-8")
    (tmp_path / "out" / "seed-4").mkdir(parents=True)
    (tmp_path / "out" / "seed-4" / "stale.json").write_text("{}", encoding="utf-8")
    paths = busy_day.write_seed([source, WAF], 4, tmp_path / "out" / "seed-4",
                                busy_day.Options())
    assert sorted(p.name for p in (tmp_path / "out" / "seed-4").iterdir()) == [
        "cells.json", "cloudflare-2019-07-02-waf-regex.json"]
    originals = [case_from_dict(CELLS), case_from_dict(_waf())]
    for path, original in zip(paths, originals, strict=True):
        case = load_case(path)
        assert (case.name, case.culprit, case.decision) == (
            original.name, original.culprit, original.decision)
        assert case.incident == original.incident
        assert len(case.changes) > 1500


def test_deterministic_per_seed() -> None:
    doc = copy.deepcopy(CELLS)
    first = busy_day.busy_case(doc, seed=1)
    assert busy_day.busy_case(doc, seed=1) == first
    assert busy_day.busy_case(doc, seed=2)["changes"] != first["changes"]


def test_figures_count_rollbacks_in_no_change_incidents() -> None:
    def case(name: str, culprit: str | None, decision: str) -> dict[str, Any]:
        return {"name": name, "culprit": culprit, "rank": 1 if culprit else None,
                "decision": decision}

    result = {"cases": 4, "top1": 0.5, "top3": 1.0, "mrr": 0.75, "decision_accuracy": 0.5,
              "per_case": [case("a", "x", "rollback"), case("b", None, "rollback"),
                           case("c", None, "investigate"), case("d", None, "investigate")],
              "baselines": {"recency": {"top1": 0.0, "top3": 0.5, "mrr": 0.3}}}
    figures = busy_day.figures(result)
    assert figures["no_change_rollbacks"] == pytest.approx(1 / 3, abs=1e-4)
    assert "brier" not in figures
    calibrated = busy_day.figures({**result, "brier": 0.2, "reliability": [{"bin": 0}]})
    assert (calibrated["brier"], calibrated["reliability"]) == (0.2, [{"bin": 0}])
    mean = busy_day.mean_figures([calibrated, {**calibrated, "top1": 1.0, "brier": 0.1}])
    assert mean["top1"] == 0.75 and mean["baselines"]["recency"]["top1"] == 0.0
    assert mean["brier"] == pytest.approx(0.15) and "reliability" not in mean


def test_the_command_writes_evaluates_and_reports(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """One case, one seed, end to end: the files land in seed-N/ and the figures come from
    evaluating them (the culprit of the WAF case is ranked, its baselines are reported)."""
    args = ["--cases", str(WAF), "--seeds", "5", "--out", str(tmp_path)]
    assert busy_day.main([*args, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p.name for p in (tmp_path / "seed-5").iterdir()] == [
        "cloudflare-2019-07-02-waf-regex.json"]
    seed = report["per_seed"]["5"]
    assert seed["cases"] == 1 and seed["no_change_rollbacks"] is None
    assert set(seed["baselines"]) == {"recency", "same_service"}
    assert report["mean"]["top1"] == seed["top1"] and report["mean_changes_per_case"] > 1500
    assert busy_day.main(args) == 0
    text = capsys.readouterr().out
    assert "mean" in text and "time:" in text
