"""Settings: YAML on disk to typed dataclasses, nothing read at import time.

Lookup order for the file: ``--config PATH`` > ``$ROLLBACK_ADVISOR_CONFIG`` >
``./rollback-advisor.yaml`` > built-in defaults. ``$ROLLBACK_ADVISOR_DATABASE_URL`` overrides
``database_url``. Secrets are never literals: write ``{$env: NAME}`` or ``{$file: path}``.
Unknown keys are errors naming their path, because a typo'd threshold silently ignored is worse
than a refusal to start.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from .engine import EngineSettings
from .environments import EnvironmentRules, environment_rules
from .errors import ConfigError, InvalidInput
from .learning import check_bounds
from .models import DEFAULT_ENVIRONMENT, ChangeKind
from .policy import PolicySettings
from .timeutil import parse_duration

CONFIG_ENV = "ROLLBACK_ADVISOR_CONFIG"
DATABASE_URL_ENV = "ROLLBACK_ADVISOR_DATABASE_URL"
DATA_DIR_ENV = "ROLLBACK_ADVISOR_DATA_DIR"
LOCAL_CONFIG = "rollback-advisor.yaml"


@dataclass(frozen=True)
class OutputSettings:
    """How much the text and Slack forms show."""

    max_suspects: int = 5


@dataclass(frozen=True)
class ServerSettings:
    """The HTTP service (``rollback-advisor serve``); secrets are optional so that the example
    config loads with no environment, and the features that need one say so when used."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    # Requests above this many bytes are refused with 413 before they are read.
    max_request_bytes: int = 1_048_576
    # The address CI and GitHub reach the service at; hook URLs are built from it.
    public_url: str | None = None
    # Read endpoints (/api/v1 GETs and recommendations) need a read or admin token when true.
    read_auth: bool = True
    # Server key: every hook's secret is derived from it (HMAC), so none is stored.
    secret_key: str | None = None
    slack_signing_secret: str | None = None
    slack_webhook_url: str | None = None
    # Bot token (xoxb-...) and channel id: incident advice is posted with chat.postMessage, one
    # message per incident and updates in its thread (docs/incidents.md, "Slack"). Without a
    # token, advice goes to slack_webhook_url, one message per update.
    slack_bot_token: str | None = None
    slack_channel: str | None = None
    # Slack's Web API; changed only to point tests at a local fake.
    slack_api_url: str = "https://slack.com/api/"


@dataclass(frozen=True)
class SyncSettings:
    """How ``serve`` keeps the connectors' sources current (connectors/schedule.py). Each
    source's interval and jitter are keys of its own ``connectors.<name>`` section."""

    # Run the scheduled syncs beside ``serve`` (one scheduler process per instance).
    schedule: bool = True
    # Sync the sources on the failing nodes' paths before each piece of advice ...
    pull_before_advice: bool = True
    # ... waiting at most this long: advice never waits longer.
    pull_deadline: timedelta = timedelta(seconds=3)
    # A sync holds its source's lease this long, renewed after each stored batch; a holder
    # killed mid-sync hands the source over once it has run out.
    lease_ttl: timedelta = timedelta(minutes=2)
    # /healthz says "degraded" when a source's last success is older than this (or than
    # three of its intervals, whichever is longer).
    stale_after: timedelta = timedelta(minutes=15)
    # This many authentication failures in a row pause a source until `sync resume NAME` (or
    # a manual `sync --source NAME` that succeeds).
    auth_failures_before_pause: int = 3
    # Failed syncs retry after the interval, doubling per failure up to this.
    max_backoff: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class Settings:
    """Everything the CLI and the service need, resolved and validated."""

    database_url: str | None = None
    data_dir: str | None = None
    environment: str = DEFAULT_ENVIRONMENT
    engine: EngineSettings = field(default_factory=EngineSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    # Vendor environment names -> environment + scope, for every ingestion path (environments.py)
    environment_map: EnvironmentRules = field(default_factory=EnvironmentRules)
    # One section per connector, secrets resolved; each connector validates its own section
    # (connectors/), so the core needs no knowledge of any vendor.
    connectors: Mapping[str, Any] = field(default_factory=dict)
    sync: SyncSettings = field(default_factory=SyncSettings)
    source: str | None = None  # the file these came from, for messages

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir or os.environ.get(DATA_DIR_ENV)
                    or Path.home() / ".local" / "share" / "rollback-advisor").expanduser()


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Find, read and validate the configuration (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    chosen = path or env.get(CONFIG_ENV) or (LOCAL_CONFIG if Path(LOCAL_CONFIG).is_file()
                                             else None)
    raw: Any = {}
    if chosen:
        try:
            raw = yaml.safe_load(Path(chosen).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config {chosen}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {chosen} is not valid YAML: {exc}") from None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"config {chosen}: expected a mapping at the top level")
    try:
        settings = settings_from_dict(resolve_secrets(raw, env))
    except InvalidInput as exc:
        where = f"config {chosen}: " if chosen else "config: "
        raise ConfigError(where + exc.message) from None
    settings = dataclasses.replace(settings, source=str(chosen) if chosen else None)
    url = env.get(DATABASE_URL_ENV)
    return dataclasses.replace(settings, database_url=url) if url else settings


def resolve_secrets(value: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """Replace ``{$env: NAME}`` and ``{$file: path}`` with what they point at."""
    if isinstance(value, Mapping):
        if set(value) == {"$env"}:
            name = value["$env"]
            if name not in environ:
                raise ConfigError(f"config {path}: environment variable {name} is not set")
            return environ[name]
        if set(value) == {"$file"}:
            try:
                return Path(value["$file"]).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"config {path}: cannot read {value['$file']}: "
                                  f"{exc.strerror}") from None
        return {k: resolve_secrets(v, environ, f"{path}.{k}" if path else str(k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secrets(v, environ, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def settings_from_dict(raw: Mapping[str, Any]) -> Settings:
    """Build Settings from a plain mapping, rejecting unknown keys and ill-typed values."""
    return _build(Settings, raw, "")


def _build(cls: type[Any], raw: Any, path: str) -> Any:
    if not isinstance(raw, Mapping):
        raise InvalidInput(path or "(top level)", raw, "a mapping")
    known = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        key = f"{path}.{unknown[0]}" if path else unknown[0]
        raise InvalidInput(key, raw[unknown[0]], "no such setting; known here: "
                           + ", ".join(sorted(known)))
    defaults = cls()
    values = {}
    for name, value in raw.items():
        key = f"{path}.{name}" if path else name
        values[name] = _convert(getattr(defaults, name), value, key)
    return cls(**values)


def _convert(default: Any, value: Any, key: str) -> Any:
    if isinstance(default, EnvironmentRules):
        return environment_rules(value, key)
    if dataclasses.is_dataclass(default):
        return _build(type(default), value, key)
    if isinstance(default, timedelta):
        return parse_duration(value, key)
    if isinstance(default, tuple):  # engine.learned_prior_bounds, the one pair
        return check_bounds(value, key)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InvalidInput(key, value, "true or false")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidInput(key, value, "a whole number >= 0")
        return value
    if isinstance(default, float):
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise InvalidInput(key, value, "a number >= 0")
        return float(value)
    if key == "connectors":
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
                isinstance(v, Mapping) or v is None for v in value.values()):
            raise InvalidInput(key, value, "a mapping of connector name to its settings")
        return {str(k): dict(v or {}) for k, v in value.items()}
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise InvalidInput(key, value, "a mapping of change kind to number")
        merged = dict(default)
        for kind, number in value.items():
            try:
                merged[ChangeKind(kind)] = _convert(1.0, number, f"{key}.{kind}")
            except ValueError:
                raise InvalidInput(f"{key}.{kind}", kind, "a change kind: " + ", ".join(
                    k.value for k in ChangeKind)) from None
        return merged
    if default is None or isinstance(default, str):
        if value is not None and not isinstance(value, str):
            raise InvalidInput(key, value, "a string")
        return value
    raise InvalidInput(key, value, f"a {type(default).__name__}")  # pragma: no cover
