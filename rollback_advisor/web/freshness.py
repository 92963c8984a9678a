"""The service's side of connector freshness: the pull before advice and the sources' status.

Web may import ``connectors`` (the core may not), so the connectors' runner is built here,
lazily and once per app: an app without a ``connectors:`` section never imports them and its
advice costs no extra query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..advisor import Advice
from ..config import Settings
from ..graph import DependencyGraph
from ..models import Incident
from ..store import Store
from .metrics import Metrics


@dataclass
class Freshness:
    """Per app: the advice puller (built on first use) and what /healthz last found."""

    settings: Settings
    store: Store
    metrics: Metrics
    _puller: Any = None
    _health: tuple[float, list[str]] | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.settings.connectors)

    def puller(self) -> Any:
        if self._puller is None:
            from connectors.pull import AdvicePuller

            self._puller = AdvicePuller(self.store, self.settings,
                                        observe=self.metrics.observe_sync)
        return self._puller

    def advise(self, advise: Any, graph: DependencyGraph, incident: Incident) -> Advice:
        """``advise(incident)`` after pulling the sources on the incident's paths (when
        ``sync.pull_before_advice``), with every source's freshness attached."""
        if not self.configured:
            return advise(incident)  # type: ignore[no-any-return]
        puller = self.puller()
        nodes = [incident.target, *(s.node for s in incident.symptoms)]
        if self.settings.sync.pull_before_advice:
            result = puller.pull(graph, nodes)
            sources = result.sources
        else:
            sources = puller.sources()
        advice: Advice = advise(incident)
        return replace(advice, sources=sources)

    def status(self) -> list[dict[str, Any]]:
        """Every configured source: schedule, last success and error, lag, next run."""
        from connectors.status import source_status

        return source_status(self.store, self.settings)

    def stale(self, cache_seconds: float = 5.0) -> list[str]:
        """Why the service is degraded (sources stale beyond ``sync.stale_after``), cached a
        few seconds per worker so a probe every second costs a query every five."""
        if not self.configured:
            return []
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < cache_seconds:
            return self._health[1]
        from connectors.status import stale_reasons

        reasons = stale_reasons(self.store, self.settings)
        self._health = (now, reasons)
        return reasons
