"""Read dependency graphs as teams keep them, into one DESIGN §2 document.

Three shapes are accepted, told apart by content rather than by file name:

* the DESIGN §2 document itself (``services:`` mapping; YAML or JSON);
* a Backstage catalog: one or more ``kind: Component|Resource|API|System`` entities, in one
  multi-document YAML file or a folder of them. ``spec.dependsOn`` and ``spec.dependencyOf`` give
  edges; ``consumesApis`` points at whichever component ``providesApis`` that API;
* an edge list, as tracing backends export it: ``{"depends_on": {a: [b]}}`` (with an optional
  ``services`` list), a list of ``{"parent", "child"}`` objects (Jaeger's
  ``/api/dependencies``, also under ``"data"``), or text lines ``a -> b`` / ``a,b`` / ``a b``.

Reading a file is the only I/O here; the conversions are pure functions over parsed data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput

GraphDocument = dict[str, Any]

_BACKSTAGE_KINDS = {"component", "resource", "api", "system", "group", "user", "domain",
                    "location", "template"}
# Backstage Resource spec.type -> our node type
_RESOURCE_TYPES = {"database": "datastore", "datastore": "datastore", "db": "datastore",
                   "s3-bucket": "datastore", "bucket": "datastore", "cache": "datastore",
                   "queue": "queue", "topic": "queue", "kafka-topic": "queue",
                   "provider": "provider", "saas": "provider", "external": "provider",
                   "cluster": "infrastructure", "kubernetes-cluster": "infrastructure",
                   "network": "infrastructure", "dns": "infrastructure",
                   "load-balancer": "infrastructure", "cdn": "infrastructure"}
_EDGE_LINE = re.compile(r"^(\S+?)\s*(?:->|,|\s)\s*(\S+)$")
_NODE_TYPES = {"service", "datastore", "queue", "provider", "infrastructure"}


def load_graph_file(path: str | Path) -> GraphDocument:
    """Read a graph file or a Backstage catalog folder and return a DESIGN §2 document."""
    path = Path(path)
    if path.is_dir():
        docs: list[Any] = []
        files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")
                       and p.is_file())
        if not files:
            raise InvalidInput(str(path), None, "a folder holding Backstage catalog .yaml files")
        for file in files:
            docs.extend(_yaml_documents(file))
        return from_backstage(docs, str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(str(path), None, f"a readable file ({exc.strerror})") from None
    return parse_graph_text(text, str(path))


def parse_graph_text(text: str, name: str = "<graph>") -> GraphDocument:
    """Detect the shape of ``text`` (JSON, YAML, or an edge-list text) and convert it."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return from_any(json.loads(text), name)
        except json.JSONDecodeError as exc:
            raise InvalidInput(name, None, f"valid JSON ({exc.msg} at line {exc.lineno})"
                               ) from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        docs = []
    if docs and all(isinstance(d, Mapping) for d in docs):
        if len(docs) == 1:
            return from_any(docs[0], name)
        return from_backstage(docs, name)
    return from_edge_lines(text.splitlines(), name)


def from_any(data: Any, name: str = "<graph>") -> GraphDocument:
    """Convert one parsed document of any accepted shape."""
    if isinstance(data, Mapping):
        if str(data.get("kind", "")).lower() in _BACKSTAGE_KINDS and "apiVersion" in data:
            return from_backstage([data], name)
        if isinstance(data.get("services"), Mapping):
            return from_design(data, name)
        if isinstance(data.get("depends_on"), Mapping):
            return from_adjacency(data["depends_on"], data.get("services") or (), name)
        if isinstance(data.get("data"), list):
            return from_pairs(data["data"], name)
    if isinstance(data, list):
        return from_pairs(data, name)
    raise InvalidInput(name, _keys(data), "a DESIGN §2 graph ({services: ...}), a Backstage "
                       "catalog, or an edge list ({depends_on: {a: [b]}} or [{parent, child}])")


def from_design(data: Any, name: str = "graph") -> GraphDocument:
    """Validate a DESIGN §2 document; errors name the node and the field."""
    if not isinstance(data, Mapping) or not isinstance(data.get("services"), Mapping):
        raise InvalidInput(f"{name}.services", _keys(data), "a mapping of node name to spec")
    services: dict[str, Any] = {}
    for node, spec in data["services"].items():
        where = f"{name}.services.{node}"
        spec = {} if spec is None else spec
        if not isinstance(spec, Mapping):
            raise InvalidInput(where, spec, "a mapping (depends_on, endpoints, type, repo)")
        unknown = sorted(set(spec) - {"depends_on", "endpoints", "type", "repo", "description",
                                      "owner"})
        if unknown:
            raise InvalidInput(f"{where}.{unknown[0]}", spec[unknown[0]],
                               "one of depends_on, endpoints, type, repo, description, owner")
        out: dict[str, Any] = dict(spec)
        if "depends_on" in spec:
            out["depends_on"] = _names(spec["depends_on"], f"{where}.depends_on")
        node_type = spec.get("type", "service")
        if node_type not in _NODE_TYPES:
            raise InvalidInput(f"{where}.type", node_type, "one of " + ", ".join(
                sorted(_NODE_TYPES)))
        endpoints = spec.get("endpoints")
        if endpoints is not None:
            if not isinstance(endpoints, Mapping):
                raise InvalidInput(f"{where}.endpoints", endpoints,
                                   'a mapping such as {"GET /": {depends_on: [...]}}')
            out["endpoints"] = {}
            for ep, ep_spec in endpoints.items():
                ep_spec = {} if ep_spec is None else ep_spec
                if not isinstance(ep_spec, Mapping):
                    raise InvalidInput(f"{where}.endpoints.{ep}", ep_spec, "a mapping")
                ep_out = dict(ep_spec)
                if "depends_on" in ep_spec:
                    ep_out["depends_on"] = _names(ep_spec["depends_on"],
                                                  f"{where}.endpoints.{ep}.depends_on")
                out["endpoints"][str(ep)] = ep_out
        services[str(node)] = out
    return {"services": services}


def from_adjacency(depends_on: Mapping[str, Any], nodes: Iterable[str] = (),
                   name: str = "<graph>") -> GraphDocument:
    """An adjacency mapping ``{a: [b, c]}`` (a depends on b and c)."""
    services: dict[str, dict[str, Any]] = {str(n): {} for n in nodes}
    for node, deps in depends_on.items():
        services.setdefault(str(node), {})["depends_on"] = _names(deps, f"{name}.{node}")
        for dep in services[str(node)]["depends_on"]:
            services.setdefault(dep, {})
    return {"services": services}


def from_pairs(items: Iterable[Any], name: str = "<graph>") -> GraphDocument:
    """Jaeger-style ``[{"parent": a, "child": b, "callCount": n}]``: a calls b."""
    adjacency: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or not {"parent", "child"} <= set(item):
            raise InvalidInput(f"{name}[{index}]", item, 'an object {"parent": A, "child": B}')
        parent, child = str(item["parent"]), str(item["child"])
        deps = adjacency.setdefault(parent, [])
        if child not in deps and child != parent:
            deps.append(child)
    return from_adjacency(adjacency, (), name)


def from_edge_lines(lines: Iterable[str], name: str = "<graph>") -> GraphDocument:
    """Text lines ``a -> b``, ``a,b`` or ``a b``; blank lines and ``#`` comments ignored."""
    adjacency: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        m = _EDGE_LINE.match(text)
        if not m:
            raise InvalidInput(f"{name}: line {number}", line, "an edge 'A -> B' (A depends on "
                               "B), 'A,B' or 'A B'")
        deps = adjacency.setdefault(m.group(1), [])
        if m.group(2) not in deps:
            deps.append(m.group(2))
    if not adjacency:
        raise InvalidInput(name, None, "at least one edge")
    return from_adjacency(adjacency, (), name)


def from_backstage(entities: Iterable[Any], name: str = "<catalog>") -> GraphDocument:
    """Components and Resources become nodes; dependsOn, dependencyOf and APIs become edges."""
    services: dict[str, dict[str, Any]] = {}
    providers: dict[str, list[str]] = {}  # api name -> components providing it
    consumes: list[tuple[str, str]] = []
    reverse: list[tuple[str, str]] = []
    for entity in entities:
        if not isinstance(entity, Mapping):
            continue
        kind = str(entity.get("kind", "")).lower()
        if kind not in ("component", "resource"):
            continue
        meta = entity.get("metadata") or {}
        spec = entity.get("spec") or {}
        node = meta.get("name")
        if not isinstance(node, str):
            raise InvalidInput(f"{name}: {kind}", meta, "metadata.name")
        out = services.setdefault(node, {})
        if kind == "resource":
            out["type"] = _RESOURCE_TYPES.get(str(spec.get("type", "")).lower(), "datastore")
        deps = [_entity_name(ref) for ref in spec.get("dependsOn") or []]
        if deps:
            out.setdefault("depends_on", [])
            out["depends_on"] += [d for d in deps if d not in out["depends_on"]]
        for ref in spec.get("dependencyOf") or []:
            reverse.append((_entity_name(ref), node))
        for api in spec.get("providesApis") or []:
            providers.setdefault(_entity_name(api), []).append(node)
        for api in spec.get("consumesApis") or []:
            consumes.append((node, _entity_name(api)))
        if isinstance(meta.get("annotations"), Mapping):
            slug = meta["annotations"].get("github.com/project-slug")
            if slug:
                out["repo"] = f"github:{slug}"
            gl = meta["annotations"].get("gitlab.com/project-slug")
            if gl:
                out["repo"] = f"gitlab:{gl}"
    if not services:
        raise InvalidInput(name, None, "at least one Backstage Component or Resource")
    for src, api in consumes:
        for dst in providers.get(api, [api]):
            _add_dep(services, src, dst)
    for src, dst in reverse:
        _add_dep(services, src, dst)
    return {"services": services}


def _add_dep(services: dict[str, dict[str, Any]], src: str, dst: str) -> None:
    if src == dst:
        return
    deps = services.setdefault(src, {}).setdefault("depends_on", [])
    if dst not in deps:
        deps.append(dst)


def _entity_name(ref: Any) -> str:
    """``resource:default/artists-db`` -> ``artists-db`` (Backstage entity reference)."""
    text = str(ref)
    text = text.split(":", 1)[1] if ":" in text else text
    return text.rsplit("/", 1)[-1]


def _yaml_documents(path: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(str(path), None, f"readable YAML ({exc})") from None


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(where, value, "a list of node names")
    return list(dict.fromkeys(value))


def _keys(data: Any) -> Any:
    return sorted(map(str, data))[:8] if isinstance(data, Mapping) else type(data).__name__
