"""Vendor environment names to an environment and a scope (the ``environment_map`` setting).

GitHub and GitLab environments are free-form names, and teams encode where a deploy went in
them: ``production/us-east-1``, ``prod-eu-west-1``, ``production (cell 7)``. The advisor keeps
the environment (``production``) apart from the scope (``{region: [us-east-1]}``, DESIGN §1), so
an incident in one region can tell a deploy to another region from a culprit. Each rule is a
regular expression matched against the *whole* name; the first rule that matches decides:

- its named groups become scope labels (``(?P<region>[a-z0-9-]+)`` -> ``region``); a group
  named ``environment`` gives the environment instead, and groups that matched nothing are left
  out;
- ``environment`` (optional) is the environment stored; default: the ``environment`` group,
  else the whole name;
- ``scope`` (optional) adds fixed labels (``{region: [eu-west-1]}`` for ``prod-eu``).

No rule (the default) or no match keeps the name as the environment with no scope, as before.
Pure: the config loader validates the rules, and every ingestion path (sync, webhooks, CDEvents)
applies the same ones, so they agree on one change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput
from .models import Scope, scope_from_dict

ENVIRONMENT_GROUP = "environment"
_RULE_KEYS = frozenset({"match", "environment", "scope"})


@dataclass(frozen=True)
class EnvironmentRule:
    """One ``environment_map`` entry, validated."""

    match: re.Pattern[str]
    environment: str | None = None
    scope: Scope | None = None

    def apply(self, name: str) -> tuple[str, Scope | None] | None:
        """(environment, scope) when ``name`` matches this rule as a whole, else None."""
        m = self.match.fullmatch(name)
        if m is None:
            return None
        groups = {k: v for k, v in m.groupdict().items() if v}
        environment = self.environment or groups.pop(ENVIRONMENT_GROUP, None) or name
        groups.pop(ENVIRONMENT_GROUP, None)
        labels: dict[str, list[str]] = {k: list(v) for k, v in (self.scope or {}).items()}
        for label, value in groups.items():
            labels.setdefault(label, []).append(value)
        return environment, scope_from_dict(labels) if labels else None


class EnvironmentRules(tuple[EnvironmentRule, ...]):
    """The ordered rules (a tuple: immutable, one setting value rather than a section);
    empty, the default, maps every name to itself without scope."""

    __slots__ = ()

    def apply(self, name: str) -> tuple[str, Scope | None]:
        """(environment, scope) for a vendor's environment name: the first matching rule's,
        else the name itself and no scope."""
        for rule in self:
            found = rule.apply(name)
            if found is not None:
                return found
        return name, None


def environment_rules(value: Any, key: str = "environment_map") -> EnvironmentRules:
    """Validate the ``environment_map`` setting (a list of rules); InvalidInput names the key."""
    if value is None:
        return EnvironmentRules()
    if not isinstance(value, list):
        raise InvalidInput(key, value, 'a list of rules such as {match: "production/'
                           '(?P<region>[a-z0-9-]+)", environment: production}')
    return EnvironmentRules(_rule(item, f"{key}[{i}]") for i, item in enumerate(value))


def _rule(raw: Any, key: str) -> EnvironmentRule:
    if not isinstance(raw, Mapping):
        raise InvalidInput(key, raw, "a mapping with match (and optionally environment, scope)")
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise InvalidInput(f"{key}.{unknown[0]}", raw[unknown[0]],
                           "no such setting; known here: environment, match, scope")
    pattern = raw.get("match")
    if not isinstance(pattern, str) or not pattern:
        raise InvalidInput(f"{key}.match", pattern, "a regular expression (required)")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(f"{key}.match", pattern, f"a valid regular expression ({exc})"
                           ) from None
    environment = raw.get("environment")
    if environment is not None and (not isinstance(environment, str) or not environment.strip()):
        raise InvalidInput(f"{key}.environment", environment, "a non-empty string")
    return EnvironmentRule(compiled, environment.strip() if environment else None,
                           scope_from_dict(raw.get("scope"), f"{key}.scope"))


__all__ = ["EnvironmentRule", "EnvironmentRules", "environment_rules"]
