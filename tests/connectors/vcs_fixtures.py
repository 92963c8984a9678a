"""Helpers for the GitHub and GitLab connector tests: payloads, a fixed clock, sleep records."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors import ConnectorContext

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def payload(name: str) -> Any:
    """A fixture body (``github/deployments.json``), a fresh copy each time."""
    return copy.deepcopy(json.loads((PAYLOADS / name).read_text(encoding="utf-8")))


class Sleeps(list[float]):
    """Records the waits a connector asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def context(sleeps: Sleeps | None = None, **overrides: Any) -> ConnectorContext:
    return ConnectorContext(sleep=sleeps if sleeps is not None else Sleeps(),
                            now=lambda: NOW, **overrides)


def progress_sink() -> list[str]:
    return []
