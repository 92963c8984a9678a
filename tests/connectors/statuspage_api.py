"""Real Statuspage v2 documents (tests/fixtures/providers) for the provider connector tests and
the end-to-end sync test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
BASE = "https://www.githubstatus.com/api/v2/"
ATOM = "https://www.githubstatus.com/history.atom"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def incidents_doc() -> dict[str, Any]:
    """An incidents.json: the live incident of the 2022-11-25 summary, then archived ones."""
    summary = load("githubstatus-summary-2022-11-25.json")
    archived = [load(f"githubstatus-incidents/{p.name}")["incident"]
                for p in sorted((FIXTURES / "githubstatus-incidents").glob("*.json"))]
    return {"page": summary["page"], "incidents": summary["incidents"] + archived}
