"""One normaliser per vendor object: GitHub and GitLab deployments and releases to changes.

A deployment reaches the advisor twice: by webhook (``connectors/hooks``) and by ``sync``
(``connectors/github.py``, ``connectors/gitlab.py``). Both hand the vendor's plain JSON object to
the one function here for that object, so both make the same change: the same id, service,
environment, scope, status, times and details. What only one path knows is added by that path
afterwards (the hook id of a delivery; the previous version and the commits shipped, which sync
learns from its history and the compare API).

Everything here is pure (no vendor library, no I/O, no clock), like the webhook parsers.

Import note: ``connectors.hooks`` imports these modules and these import ``connectors.hooks.base``;
the hook modules therefore import them as modules (``from ..objects import github``), which
Python resolves even while the package is half initialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rollback_advisor.environments import EnvironmentRules
from rollback_advisor.models import DEFAULT_ENVIRONMENT, Scope


@dataclass(frozen=True)
class Target:
    """What an ingestion path knows besides the vendor object: how to name what it changed.

    ``source`` is the change's source (the hook's vendor, or the sync section's name);
    ``mapping`` the explicit repository -> node map (the hook's mapping, the section's ``map``);
    ``repo_map`` the graph's ``repo:`` annotations (``github:owner/name`` -> node, keys
    casefolded as ``DependencyGraph.repo_map`` gives them);
    ``environments`` the ``environment_map`` rules; ``default_environment`` the environment of
    objects that name none (releases): the hook's environment, or the section's first.
    """

    source: str
    mapping: Mapping[str, str] = field(default_factory=dict)
    repo_map: Mapping[str, str] = field(default_factory=dict)
    environments: EnvironmentRules = field(default_factory=EnvironmentRules)
    default_environment: str = DEFAULT_ENVIRONMENT

    def service(self, vendor: str, path: str, *names: str | None) -> str:
        """The graph node of repository ``path`` (``owner/name``): the explicit mapping (by
        path or name), the graph's ``repo:`` annotation (``<vendor>:<path>``), else the last
        path segment."""
        from connectors.hooks.base import map_service

        short = path.rsplit("/", 1)[-1]
        explicit = map_service(self.mapping, path, short, *names)
        if explicit:
            return explicit
        return self.repo_map.get(f"{vendor}:{path}".casefold()) or short

    def place(self, vendor_environment: str | None) -> tuple[str, Scope | None]:
        """(environment, scope) of a vendor environment name (the default when it names
        none), through the ``environment_map`` rules."""
        return self.environments.apply(vendor_environment or self.default_environment)


def verb(status: str) -> str:
    """How a summary says a deploy's status: ``deployed``, ``failed to deploy``, ..."""
    return {"succeeded": "deployed", "failed": "failed to deploy",
            "in_progress": "deploying"}[status]


__all__ = ["Target", "verb"]
