"""`priors show|reset` and `eval --learn` through Click's runner."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rollback_advisor.store import open_store
from rollback_advisor.store.verdicts import VerdictStore
from rollback_advisor.verdicts import Verdict, VerdictKind

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 20, 15, tzinfo=UTC)


def record(tmp_path: Path, *items: tuple[str, str, VerdictKind]) -> None:
    store = open_store(None, tmp_path / "data")
    for incident, change, said in items:
        VerdictStore(store).record(Verdict(incident, change, said, "alice", AT))
    store.close()


def judge_loaded(tmp_path: Path, loaded: dict) -> tuple[str, str]:
    """Verdicts on the loaded case's culprit (several incidents) and one other change."""
    culprit = loaded["expect"]["culprit"]
    other = next(c["id"] for c in loaded["changes"] if c["id"] != culprit)
    record(tmp_path, *[(f"inc-{i}", culprit, VerdictKind.CULPRIT) for i in range(4)],
           *[(f"inc-{i}", other, VerdictKind.NOT_CULPRIT) for i in range(4)])
    return culprit, other


def test_show_without_verdicts(run) -> None:
    text = run("priors", "show")
    assert text.exit_code == 0 and "0 verdicts; learning on" in text.output
    assert "every prior is as configured" in text.output
    data = json.loads(run("priors", "show", "--format", "json").output)
    assert data == {"learn_priors": True, "bounds": [0.25, 4.0], "strength": 5.0,
                    "verdicts": 0, "priors": []}


def test_show_counts_multipliers_and_effective_priors(run, loaded, tmp_path: Path) -> None:
    culprit, other = judge_loaded(tmp_path, loaded)
    kinds = {c["id"]: (c["kind"], c.get("source")) for c in loaded["changes"]}
    data = json.loads(run("priors", "show", "--format", "json").output)
    assert data["verdicts"] == 8
    rows = {(r["kind"], r["source"]): r for r in data["priors"]}
    won, lost = rows[kinds[culprit]], rows[kinds[other]]
    if won is not lost:
        assert (won["culprit"], won["not_culprit"]) == (4, 0) and won["factor"] > 1
        assert (lost["culprit"], lost["not_culprit"]) == (0, 4) and lost["factor"] < 1
    for r in data["priors"]:
        assert r["effective_prior"] == pytest.approx(r["configured_prior"] * r["factor"],
                                                     abs=1e-3)
    text = run("priors", "show").output
    assert "8 verdicts; learning on" in text and f"{won['kind']}/" in text


def test_suspects_explain_the_learnt_prior(run, loaded, tmp_path: Path) -> None:
    culprit, _ = judge_loaded(tmp_path, loaded)
    at = loaded["incident"]["started_at"]
    data = json.loads(run("suspects", loaded["incident"]["target"], "--at", at, "--format",
                          "json").output)
    top = next(s for s in data["suspects"] if s["change"]["id"] == culprit)
    assert "past verdicts: prior x" in json.dumps(top["reasons"])
    for fmt in ("text", "slack"):  # the why line of each suspect says it too
        out = run("suspects", loaded["incident"]["target"], "--at", at, "--format", fmt).output
        assert "past verdicts: prior x" in out


def test_learning_off_in_the_config(run, loaded, tmp_path: Path) -> None:
    judge_loaded(tmp_path, loaded)
    (tmp_path / "off.yaml").write_text("engine: {learn_priors: false}\n")
    data = json.loads(run("--config", "off.yaml", "priors", "show", "--format", "json").output)
    assert data["learn_priors"] is False
    assert all(r["effective_prior"] == r["configured_prior"] for r in data["priors"])
    assert "learning off" in run("--config", "off.yaml", "priors", "show").output


def test_reset_asks_first(run, loaded, tmp_path: Path) -> None:
    judge_loaded(tmp_path, loaded)
    refused = run("priors", "reset", input="n\n")
    assert refused.exit_code != 0
    assert json.loads(run("priors", "show", "--format", "json").output)["verdicts"] == 8
    agreed = run("priors", "reset", input="y\n")
    assert agreed.exit_code == 0 and "deleted 8 verdicts" in agreed.output
    assert json.loads(run("priors", "show", "--format", "json").output)["priors"] == []
    record(tmp_path, ("inc-9", loaded["expect"]["culprit"], VerdictKind.CULPRIT))
    assert "deleted 1 verdicts" in run("priors", "reset", "--yes").output


def test_eval_learn_on_the_corpus_never_makes_a_decision_worse(run) -> None:
    """The replay walks the corpus in date order; with the default model, learning changes no
    right decision into a wrong one and does not lose top-1 or calibration."""
    data = json.loads(run("eval", "--learn", str(ROOT / "benchmarks" / "cases"), "--format",
                          "json").output)
    assert data["cases"] >= 30 and data["verdicts"] >= data["cases"]
    assert data["decisions_worse"] == []
    assert data["with"]["decisions_correct"] >= data["without"]["decisions_correct"]
    assert data["with"]["top1"] >= data["without"]["top1"]
    assert data["with"]["brier"] <= data["without"]["brier"]
    starts = [p["started_at"] for p in data["per_case"]]
    assert starts == sorted(starts)
    text = run("eval", "--learn", str(ROOT / "benchmarks" / "cases")).output
    assert "learning replay" in text and "decisions worse with learning: none" in text
