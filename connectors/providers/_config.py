"""The ``connectors.providers`` section, validated into frozen dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rollback_advisor.errors import ConfigError
from rollback_advisor.models import DEFAULT_ENVIRONMENT

from ..config import duration, entries, optional_text, required_text, settings

TYPES = ("statuspage", "feed")
_FEED_KEYS = {"name", "type", "url", "node", "components", "environment"}
_KEYS = {"feeds", "timeout", "retries", "backoff"}


@dataclass(frozen=True)
class FeedConfig:
    """One provider page or feed, and the graph node(s) its changes land on."""

    name: str
    type: str
    url: str
    node: str
    components: Mapping[str, str] = field(default_factory=dict)  # component name -> node
    environment: str = DEFAULT_ENVIRONMENT


@dataclass(frozen=True)
class ProvidersConfig:
    """The validated ``connectors.providers`` section."""

    feeds: tuple[FeedConfig, ...]
    timeout: timedelta = timedelta(seconds=10)
    retries: int = 3
    backoff: timedelta = timedelta(seconds=0.5)


def parse_config(raw: Mapping[str, Any], prefix: str = "connectors.providers") -> ProvidersConfig:
    """Validate a raw section; a ConfigError names the key, e.g. ``...feeds[0].type``."""
    raw = settings(prefix, raw, _KEYS)
    feeds: list[FeedConfig] = []
    for where, item in entries(prefix, raw, "feeds", _FEED_KEYS):
        name, url, node = (required_text(where, item, key) for key in ("name", "url", "node"))
        kind = item.get("type", "statuspage")
        if kind not in TYPES:
            raise ConfigError(f"{where}.type: got {kind!r}, expected one of " + ", ".join(TYPES))
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url: got {url!r}, expected an http(s) URL")
        components = item.get("components") or {}
        if not isinstance(components, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in components.items()):
            raise ConfigError(f"{where}.components: expected a mapping of component name to "
                              "graph node")
        environment = optional_text(where, item, "environment", DEFAULT_ENVIRONMENT)
        if any(f.name == item["name"] for f in feeds):
            raise ConfigError(f"{where}.name: {item['name']!r} is used twice")
        feeds.append(FeedConfig(name=name, type=kind, url=url, node=node,
                                components=dict(components), environment=str(environment)))
    retries = raw.get("retries", 3)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise ConfigError(f"{prefix}.retries: got {retries!r}, expected a whole number 0-10")
    return ProvidersConfig(feeds=tuple(feeds), retries=retries,
                           timeout=duration(prefix, raw, "timeout", "10s"),
                           backoff=duration(prefix, raw, "backoff", 0.5))
