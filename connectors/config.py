"""Checks every connector section shares, so each says what is wrong in the same words.

A section is a mapping of settings, often with a list of entries (``databases``, ``feeds``,
``hosts``) that are mappings themselves. Unknown keys are refused, never ignored: a misspelt
``enviroment`` silently dropped would sync the wrong environment for months. Every error is a
``ConfigError`` naming the full key (``connectors.migrations.databases[0].framework``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from rollback_advisor.errors import ConfigError, InvalidInput
from rollback_advisor.timeutil import parse_duration


def reject_unknown(where: str, raw: Mapping[str, Any], known: Iterable[str]) -> None:
    """Refuse the first key of ``raw`` (alphabetically) that is not in ``known``."""
    allowed = set(known)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: no such setting; known here: "
                          + ", ".join(sorted(allowed)))


def settings(where: str, raw: Any, known: Iterable[str],
             expected: str = "expected a mapping") -> Mapping[str, Any]:
    """``raw`` as a mapping holding only ``known`` keys."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: {expected}")
    reject_unknown(where, raw, known)
    return raw


def entries(where: str, raw: Mapping[str, Any], key: str,
            known: Iterable[str]) -> list[tuple[str, Mapping[str, Any]]]:
    """The non-empty list ``raw[key]`` of mappings, each holding only ``known`` keys, paired
    with the path an error about it names (``<where>.<key>[<index>]``)."""
    items = raw.get(key)
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}.{key}: expected a non-empty list of {key}")
    allowed = tuple(known)
    return [(f"{where}.{key}[{index}]", settings(f"{where}.{key}[{index}]", item, allowed))
            for index, item in enumerate(items)]


def required_text(where: str, item: Mapping[str, Any], key: str) -> str:
    """``item[key]``, a string that is not blank, stripped."""
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key}: expected a non-empty string")
    return value.strip()


def optional_text(where: str, item: Mapping[str, Any], key: str,
                  default: str | None = None) -> str | None:
    """``item[key]`` when present (a non-empty string, kept as written), else ``default``."""
    if key not in item:
        return default
    value = item[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key}: expected a non-empty string")
    return value


def duration(where: str, raw: Mapping[str, Any], key: str, default: str | float) -> timedelta:
    """``raw[key]`` (``10s``, ``15m``, ``30d`` or seconds) as a timedelta."""
    try:
        return parse_duration(raw.get(key, default), f"{where}.{key}")
    except InvalidInput as exc:
        raise ConfigError(exc.message) from None


__all__ = ["duration", "entries", "optional_text", "reject_unknown", "required_text",
           "settings"]
