"""The ``connectors.providers`` section, validated into frozen dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rollback_advisor.errors import ConfigError, InvalidInput
from rollback_advisor.models import DEFAULT_ENVIRONMENT
from rollback_advisor.timeutil import parse_duration

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
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix}: expected a mapping")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}: no such setting; known here: "
                          + ", ".join(sorted(_KEYS)))
    items = raw.get("feeds")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{prefix}.feeds: expected a non-empty list of feeds")
    feeds: list[FeedConfig] = []
    for index, item in enumerate(items):
        where = f"{prefix}.feeds[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        bad = sorted(set(item) - _FEED_KEYS)
        if bad:
            raise ConfigError(f"{where}.{bad[0]}: no such setting; known here: "
                              + ", ".join(sorted(_FEED_KEYS)))
        for key in ("name", "url", "node"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise ConfigError(f"{where}.{key}: expected a non-empty string")
        kind = item.get("type", "statuspage")
        if kind not in TYPES:
            raise ConfigError(f"{where}.type: got {kind!r}, expected one of " + ", ".join(TYPES))
        url = item["url"].strip()
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url: got {url!r}, expected an http(s) URL")
        components = item.get("components") or {}
        if not isinstance(components, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in components.items()):
            raise ConfigError(f"{where}.components: expected a mapping of component name to "
                              "graph node")
        environment = item.get("environment", DEFAULT_ENVIRONMENT)
        if not isinstance(environment, str) or not environment:
            raise ConfigError(f"{where}.environment: expected a non-empty string")
        if any(f.name == item["name"] for f in feeds):
            raise ConfigError(f"{where}.name: {item['name']!r} is used twice")
        feeds.append(FeedConfig(name=item["name"].strip(), type=kind, url=url,
                                node=item["node"].strip(), components=dict(components),
                                environment=environment))
    retries = raw.get("retries", 3)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise ConfigError(f"{prefix}.retries: got {retries!r}, expected a whole number 0-10")
    durations: dict[str, timedelta] = {}
    for key, default in (("timeout", "10s"), ("backoff", 0.5)):
        try:
            durations[key] = parse_duration(raw.get(key, default), f"{prefix}.{key}")
        except InvalidInput as exc:
            raise ConfigError(exc.message) from None
    return ProvidersConfig(feeds=tuple(feeds), retries=retries, **durations)
