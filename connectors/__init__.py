"""Connectors that pull recent changes from vendors into DESIGN §1 change events.

They depend on the core (``rollback_advisor.models`` and ``rollback_advisor.errors``), never the
reverse: the core reaches them only through ``rollback-advisor sync``, which imports
``connectors.cli`` lazily.

The registry
------------
``REGISTRY`` maps a connector name to an import string ``"module:Class"``. It is an explicit
dict rather than a naming convention or entry-point scan so that a grep finds every connector,
and importing it costs nothing: a connector module (and its vendor library) is imported only when
a config section asks for it.

A connector class offers ``from_config(section, context, *, name) -> instance``: it validates
its raw config section (``Settings.connectors[name]``, secrets already resolved, the common keys
below removed) into a frozen dataclass, rejecting unknown keys with a ``ConfigError`` naming
``connectors.<name>.<key>``, and builds itself from that plus an optional injected vendor client
(``context.clients[name]``). ``connectors.config`` does the key checking (and
``connectors.vcs.common.Section`` on top of it). A class without ``from_config`` is called as
``Class(section)``. Its ``name`` attribute is the section name, which is also the key its sync
cursor is stored under.

Which sections run, and what "explicit" means
---------------------------------------------
Every section under ``connectors:`` runs, except one with ``enabled: false``. Two keys are read
here and never reach the connector:

- ``enabled``: ``true`` makes the section *explicit*; ``false`` turns it off; absent = auto.
- ``connector``: which registry entry a section uses when its name is not one (two GitHub
  instances: ``github-enterprise: {connector: github, base_url: ...}``).

A connector whose vendor library is missing raises ``ConnectorUnavailable``. For an *explicit*
section (``enabled: true``, or named by ``sync --source NAME``) that is an error and ``sync``
exits non-zero; for an auto section it is skipped with a one-line message, so a shared config
can list connectors that only some installs have the libraries for.

Secrets are never literals in the file: write ``token: {$env: GITHUB_TOKEN}``. The loader
resolves them before a connector sees its section, so a connector cannot tell a literal from a
resolved value; ``config.example.yaml`` shows the ``$env`` form for every secret.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollback_advisor.environments import EnvironmentRules
from rollback_advisor.errors import ConfigError
from rollback_advisor.timeutil import utc_now

from .base import ChangeSource, ConnectorUnavailable

REGISTRY: dict[str, str] = {
    "github": "connectors.github:GitHubConnector",
    "gitlab": "connectors.gitlab:GitLabConnector",
    "migrations": "connectors.migrations:MigrationHistoryConnector",
    "providers": "connectors.providers:ProviderConnector",
    "certificates": "connectors.certificates:CertificateConnector",
}

# Keys every section may carry, handled by the registry (and the scheduler: ``interval``,
# ``jitter``, ``pull_before_advice``, see connectors/schedule.py) and removed before validation.
COMMON_KEYS = frozenset({"enabled", "connector", "interval", "jitter", "pull_before_advice"})


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector may need besides its own section, injected so tests stay offline.

    ``repo_map`` maps ``github:owner/name`` / ``gitlab:group/project`` to a graph node (the
    graph's ``repo:`` annotations, keys casefolded as ``DependencyGraph.repo_map`` gives them).
    ``sleep`` is what rate-limit and retry waits call; ``now`` is the clock for look-back
    windows; ``clients`` holds vendor clients by section name
    (``{"github": Github(...)}``) that replace the ones a connector would build; ``warn``
    receives one-line messages such as a skipped connector; ``environments`` are the
    ``environment_map`` rules (vendor environment name -> environment + scope).
    """

    repo_map: Mapping[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = utc_now
    clients: Mapping[str, Any] = field(default_factory=dict)
    warn: Callable[[str], None] = lambda message: None
    environments: EnvironmentRules = field(default_factory=EnvironmentRules)


def is_enabled(name: str, section: Mapping[str, Any]) -> bool | None:
    """``enabled`` of a section: True (explicit), False (off) or None (auto)."""
    value = section.get("enabled")
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"connectors.{name}.enabled: got {value!r}, expected true or false")
    return value


def load_connector(name: str, section: Mapping[str, Any], *, explicit: bool,
                   context: ConnectorContext | None = None,
                   registry: Mapping[str, str] | None = None) -> ChangeSource | None:
    """Import and build the connector of section ``name``; None when skipped.

    Raises:
        ConnectorUnavailable: its library is missing and the section is explicit.
        ConfigError: the section is invalid, or names no registered connector.
    """
    context = context or ConnectorContext()
    table = REGISTRY if registry is None else registry
    kind = section.get("connector", name)
    if kind not in table:
        raise ConfigError(f"connectors.{name}: no connector named {kind!r}; known: "
                          + ", ".join(sorted(table)) + " (name the section after one, or set "
                          "'connector: NAME')")
    own = {k: v for k, v in section.items() if k not in COMMON_KEYS}
    try:
        cls = _import(table[kind])
    except ConnectorUnavailable as exc:
        if explicit:
            raise
        context.warn(f"skipped {name}: {exc.message}")
        return None
    factory = getattr(cls, "from_config", None)
    source = factory(own, context, name=name) if factory else cls(own)
    return source  # type: ignore[no-any-return]


def _import(target: str) -> Any:
    """Import ``module:attr``; a missing *vendor* library becomes ConnectorUnavailable.

    An ImportError naming one of our own modules is a bug or a typo in the registry, and is
    re-raised as is rather than being mistaken for an optional library.
    """
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ConnectorUnavailable:
        raise
    except ImportError as exc:
        missing = exc.name or ""
        if not missing or missing == module_name or missing.split(".")[0] in (
                "connectors", "rollback_advisor"):
            raise
        raise ConnectorUnavailable(f"{missing} is not installed: pip install {missing}",
                                   library=missing) from exc
    return getattr(module, attr)


__all__ = ["COMMON_KEYS", "REGISTRY", "ConnectorContext", "is_enabled",
           "load_connector"]
