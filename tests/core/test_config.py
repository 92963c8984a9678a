"""Configuration: typed, secrets by reference, unknown keys refused with their path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from rollback_advisor.config import Settings, load_settings, resolve_secrets
from rollback_advisor.errors import ConfigError
from rollback_advisor.models import ChangeKind

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def test_example_config_loads_and_matches_defaults() -> None:
    """config.example.yaml is valid and documents the built-in defaults."""
    settings = load_settings(EXAMPLE, environ={})
    assert settings.engine == Settings().engine
    assert settings.policy == Settings().policy


def _keys(value: object, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            out.add(f"{prefix}{k}")
            if k not in ("kind_prior", "kind_time_scale_minutes"):
                out |= _keys(v, f"{prefix}{k}.")
        return out
    return set()


def test_example_config_has_every_setting() -> None:
    """Every setting the code knows appears in config.example.yaml, and nothing else."""
    import dataclasses

    def fields(obj: object, prefix: str = "") -> set[str]:
        out = set()
        for f in dataclasses.fields(obj):  # type: ignore[arg-type]
            if f.name == "source":
                continue
            out.add(prefix + f.name)
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                out |= fields(value, prefix + f.name + ".")
        return out

    documented = _keys(yaml.safe_load(EXAMPLE.read_text()))
    assert fields(Settings()) == documented


def test_overrides_and_env(tmp_path: Path) -> None:
    """Values override defaults; the database URL env var wins over the file."""
    path = tmp_path / "c.yaml"
    path.write_text("database_url: sqlite:///x.db\nengine: {window: 6h, kind_prior: {config: 2}}\n")
    settings = load_settings(path, environ={"ROLLBACK_ADVISOR_DATABASE_URL": "sqlite:///y.db"})
    assert settings.database_url == "sqlite:///y.db"
    assert settings.engine.window == timedelta(hours=6)
    assert settings.engine.kind_prior[ChangeKind.CONFIG] == 2.0
    assert settings.engine.kind_prior[ChangeKind.DEPLOY] == 1.0


@pytest.mark.parametrize(("text", "message"), [
    ("engine: {windw: 6h}", "engine.windw"),
    ("policy: {min_confidence: high}", "policy.min_confidence"),
    ("engine: {kind_prior: {release: 1}}", "engine.kind_prior.release"),
    ("engine: [1]", "engine"),
    ("database_url: {$env: NOPE_NOT_SET}", "NOPE_NOT_SET"),
    ("a: [", "not valid YAML"),
])
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    """A bad config fails with the file and the key path in one line."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        load_settings(path, environ={})


def test_secret_references(tmp_path: Path) -> None:
    """$env and $file references are resolved, nested anywhere."""
    secret = tmp_path / "s"
    secret.write_text("from-file\n")
    doc = {"a": {"$env": "X"}, "b": [{"$file": str(secret)}]}
    assert resolve_secrets(doc, {"X": "from-env"}) == {"a": "from-env", "b": ["from-file"]}
