"""Case files (DESIGN §3): one incident with its graph, its changes and the expected answer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput
from .graph import DependencyGraph
from .graph_import import from_design
from .models import Change, Decision, Incident, changes_from_dicts, incident_from_dict

CASE_SUFFIXES = (".yaml", ".yml", ".json")
_INCIDENT_FIELDS = {"target", "started_at", "environment", "symptoms", "scope"}


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    graph: DependencyGraph
    changes: tuple[Change, ...]
    incident: Incident
    culprit: str | None
    decision: Decision
    path: str


def case_from_dict(data: Any, path: str = "<case>") -> Case:
    """Validate a case document; errors name the file and the field."""
    try:
        return _case(data, path)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc.field}", exc.value, exc.expected) from None


def _case(data: Any, path: str) -> Case:
    if not isinstance(data, Mapping):
        raise InvalidInput("", data, "a mapping with name, graph, changes, incident, expect")
    for key in ("name", "graph", "changes", "incident", "expect"):
        if key not in data:
            raise InvalidInput(key, None, "present (DESIGN §3)")
    graph = DependencyGraph.from_document(from_design(data["graph"]))
    if not isinstance(data["changes"], list):
        raise InvalidInput("changes", data["changes"], "a list of change events")
    changes = tuple(changes_from_dicts(data["changes"]))
    inc = data["incident"]
    if not isinstance(inc, Mapping) or not isinstance(inc.get("target"), str):
        raise InvalidInput("incident.target", inc, "a node or endpoint name")
    unknown = sorted(set(inc) - _INCIDENT_FIELDS)
    if unknown:
        raise InvalidInput(f"incident.{unknown[0]}", inc[unknown[0]],
                           "no such field; an incident has " + ", ".join(sorted(_INCIDENT_FIELDS)))
    incident = incident_from_dict(inc)
    expect = data["expect"]
    if not isinstance(expect, Mapping) or "culprit" not in expect:
        raise InvalidInput("expect", expect, "a mapping with culprit and decision")
    culprit = expect.get("culprit")
    if culprit is not None and culprit not in {c.id for c in changes}:
        raise InvalidInput("expect.culprit", culprit, "null or the id of one of the changes")
    decision_value: Any = expect.get("decision")
    try:
        decision = Decision(decision_value)
    except ValueError:
        raise InvalidInput("expect.decision", expect.get("decision"),
                           "rollback, forward_fix or investigate") from None
    return Case(name=str(data["name"]), description=str(data.get("description") or ""),
                graph=graph, changes=changes, incident=incident, culprit=culprit,
                decision=decision, path=path)


def case_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expand files and folders (recursively) into case files, in a stable order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*")
                              if p.suffix in CASE_SUFFIXES and p.is_file())
        elif path.is_file():
            yield path
        else:
            raise InvalidInput("path", str(path), "an existing case file or folder")


def load_case(path: Path) -> Case:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(str(path), None, f"a readable YAML/JSON case file ({exc})") from None
    return case_from_dict(data, str(path))
