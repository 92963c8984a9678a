"""The benchmark on real case files: the shared examples and the corpus in benchmarks/cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollback_advisor.cases import case_paths, load_case
from rollback_advisor.config import Settings
from rollback_advisor.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "benchmarks" / "cases"
SHARED = ROOT.parent / "shared" / "cases"
COPIES = ROOT / "tests" / "fixtures" / "cases"


def run(folder: Path) -> dict:
    return evaluate([load_case(p) for p in case_paths([folder])], Settings())


def test_shared_examples_all_right() -> None:
    """The three shared example cases (copied into tests/fixtures): every culprit first and
    every decision as expected."""
    result = run(SHARED if SHARED.is_dir() else COPIES)
    assert result["cases"] == 3
    assert (result["top1"], result["decision_accuracy"]) == (1.0, 1.0)


def test_corpus_beats_both_baselines_widely() -> None:
    """On the corpus drawn from public postmortems the engine beats recency and same-service
    ranking by a wide margin, and decides better than chance among three answers."""
    result = run(CORPUS)
    assert result["cases"] >= 30
    for baseline in result["baselines"].values():
        assert result["top1"] >= baseline["top1"] + 0.2
        assert result["mrr"] >= baseline["mrr"] + 0.15
    assert result["decision_accuracy"] >= 0.6


@pytest.mark.parametrize("path", sorted(case_paths([CORPUS])), ids=lambda p: p.stem)
def test_every_corpus_case_is_valid_and_cited(path: Path) -> None:
    """Each case file loads, names a public source and has distractors beside its culprit."""
    case = load_case(path)
    assert "http" in case.description, "cite the postmortem's URL in the description"
    assert len(case.changes) >= 4


def test_calibration_scores_the_top_suspect() -> None:
    """Brier of "the top suspect is the culprit" and a reliability table, by hand."""
    from rollback_advisor.evaluate import calibration

    got = calibration([(0.9, True), (0.7, False), (0.1, False), (0.15, True)])
    assert got["brier"] == round((0.01 + 0.49 + 0.01 + 0.7225) / 4, 4)
    assert got["reliability"] == [
        {"bin": "0.0-0.2", "cases": 2, "predicted": 0.125, "observed": 0.5},
        {"bin": "0.6-0.8", "cases": 1, "predicted": 0.7, "observed": 0.0},
        {"bin": "0.8-1.0", "cases": 1, "predicted": 0.9, "observed": 1.0}]
    assert calibration([(1.0, True)])["reliability"][0]["bin"] == "0.8-1.0"
