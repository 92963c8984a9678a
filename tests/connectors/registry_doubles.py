"""Connector classes for the registry and sync tests (real classes, no mocks of our own code)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from connectors import ConnectorContext
from connectors.base import Batch, ConnectorError, Cursor, Progress
from connectors.vcs.common import Section
from rollback_advisor.models import change_from_dict


class CountingSource:
    """Yields ``count`` deploys after ``cursor.seen``, one batch each; fails when told to."""

    def __init__(self, name: str, count: int, fail: str | None) -> None:
        self.name, self.count, self.fail = name, count, fail

    @classmethod
    def from_config(cls, section: Mapping[str, Any], context: ConnectorContext, *,
                    name: str) -> CountingSource:
        s = Section(name, section, ("count", "fail"))
        return cls(name, s.integer("count", 2, low=0, high=100), s.text("fail"))

    def fetch(self, cursor: Cursor | None, progress: Progress) -> Iterator[Batch]:
        seen = int((cursor or {}).get("seen", 0))
        for n in range(seen + 1, self.count + 1):
            change = change_from_dict({"id": f"{self.name}:{n}", "kind": "deploy",
                                       "service": "svc", "at": f"2026-11-20T1{n % 10}:00:00Z"})
            yield Batch([change], {"seen": n}, skipped=1 if n == 1 else 0)
            if self.fail and n == 1:
                raise ConnectorError(f"{self.name}: {self.fail}")


class EnvironmentEcho:
    """One deploy to the section's vendor ``environment``, placed by the context's
    ``environment_map`` rules as a real connector places it."""

    def __init__(self, name: str, environment: str, context: ConnectorContext) -> None:
        self.name, self.environment, self.context = name, environment, context

    @classmethod
    def from_config(cls, section: Mapping[str, Any], context: ConnectorContext, *,
                    name: str) -> EnvironmentEcho:
        s = Section(name, section, ("environment",))
        return cls(name, s.text("environment", required=True) or "", context)

    def fetch(self, cursor: Cursor | None, progress: Progress) -> Iterator[Batch]:
        environment, scope = self.context.environments.apply(self.environment)
        yield Batch([change_from_dict({
            "id": f"{self.name}:1", "kind": "deploy", "service": "svc", "environment": environment,
            "scope": {k: list(v) for k, v in (scope or {}).items()},
            "at": "2026-11-20T10:00:00Z"})], {"done": True})
