"""Rows of ``changes`` straight from JSON Lines, for ``import`` of many changes (issue 11).

``change_from_dict`` and ``Store._row`` cost ~35 us a line (json.loads, the checks, a frozen
``Change``, ``to_dict``, a doc encoded by the json module): more than the whole budget of an
import at 50,000 changes/s. ``prepare_line`` builds the same row for a well-formed line in a
few microseconds: msgspec decodes and type-checks the line in C, the remaining checks are the
ones ``change_from_dict`` makes, and no ``Change`` is built.

It only answers for lines it is sure about: any line it is not (a backslash escape anywhere,
which could hide a NUL or a lone surrogate; a type, value or limit the validator would refuse;
``details`` it cannot vouch for) gives ``None``, and the caller takes the line through
``change_from_dict`` and ``prepare_change``, so every error message, and every row of an
unusual line, comes from the one validator as before. ``tests/store/test_prepared.py``
imports the same lines both ways and compares the stored rows column by column.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec

from ..engine import scope_key
from ..errors import InvalidInput
from ..models import (
    GLOBAL,
    MAX_LENGTHS,
    Change,
    ChangeKind,
    ChangeStatus,
    change_from_dict,
    check_json,
    scope_from_dict,
    scope_to_dict,
)
from ..sqlrisk import change_text, destructive_operations
from ..store_reads import SERVICE_SEPARATOR, to_us
from ..timeutil import EARLIEST, LATEST, format_utc
from .columns import candidate_columns

# The columns a prepared row holds, in order; the writer appends ingested_us and owner.
COLUMNS = ("id", "kind", "environment", "at_us", "start_us", "status", "is_global", "source",
           "doc", "version", "services", "rollout_pct", "destructive", "scope")
WRITER_COLUMNS = ("ingested_us", "owner")


class Prepared(NamedTuple):
    """One change ready to store: its ``changes`` row (COLUMNS), its services, and the
    ``Change`` or JSON line it came from, for the rare change the store must rebuild
    (``change``). Plain tuples: a worker process sends them cheaply (import_lines.py)."""

    row: tuple[Any, ...]
    services: tuple[str, ...]
    source: Change | bytes

    @property
    def id(self) -> str:
        return self.row[0]  # type: ignore[no-any-return]

    @property
    def kind(self) -> str:
        return self.row[1]  # type: ignore[no-any-return]

    @property
    def environment(self) -> str:
        return self.row[2]  # type: ignore[no-any-return]

    @property
    def at_us(self) -> int:
        return self.row[3]  # type: ignore[no-any-return]

    @property
    def start_us(self) -> int:
        return self.row[4]  # type: ignore[no-any-return]

    @property
    def status(self) -> str:
        return self.row[5]  # type: ignore[no-any-return]

    @property
    def version(self) -> str | None:
        return self.row[9]  # type: ignore[no-any-return]

    def change(self) -> Change:
        """The ``Change`` as ``change_from_dict`` builds it (for the redeploy rule)."""
        if isinstance(self.source, Change):
            return self.source
        return change_from_dict(json.loads(self.source))


def prepare(line: bytes) -> Prepared:
    """A JSON Lines ``line`` as a prepared row: ``prepare_line``, else the full validator.

    Raises:
        InvalidInput: as ``change_from_dict``, naming the field.
        ValueError: the line is not JSON (``json.loads``' message).
    """
    fast = prepare_line(line)
    return fast if fast is not None else prepare_change(change_from_dict(json.loads(line)))


def change_doc(change: Change) -> str:
    """The stored document of a change: one spelling, so equal changes store equal text."""
    return _DOC_ENCODER.encode(change.to_dict())


def prepare_change(change: Change) -> Prepared:
    """A validated ``Change`` as its stored row: the one definition of that row (``Store``
    writes every change through it)."""
    at_us, start_us = to_us(change.at), to_us(change.effective_start)
    doc = change_doc(change)
    cand = candidate_columns(change)
    row = (change.id, change.kind.value, change.environment, at_us, start_us,
           change.status.value, change.is_global, change.source, doc, change.version,
           cand["services"], cand["rollout_pct"], cand["destructive"], cand["scope"])
    return Prepared(row, change.services, change)


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    """The DESIGN §1 fields with the JSON types ``change_from_dict`` accepts. ``environment``
    and ``status`` may be missing but not null; ``scope`` and ``details`` stay raw JSON."""

    id: str
    kind: str
    at: str
    service: str | None = None
    services: list[str] | None = None
    environment: str | msgspec.UnsetType = msgspec.UNSET
    started_at: str | None = None
    version: str | None = None
    previous_version: str | None = None
    status: str | msgspec.UnsetType = msgspec.UNSET
    reversible: bool | None = None
    scope: msgspec.Raw = msgspec.Raw()
    summary: str | None = None
    author: str | None = None
    url: str | None = None
    source: str | None = None
    details: msgspec.Raw = msgspec.Raw()


_DECODE = msgspec.json.Decoder(_Event).decode
_DECODE_ANY = msgspec.json.Decoder().decode
# msgspec writes strings exactly as json.dumps(ensure_ascii=False) does (every code point
# checked), sorted keys and compact separators, but numbers in its own exponent form: only
# documents without details (the one place a number can be) are encoded by it.
_FAST_ENCODE = msgspec.json.Encoder(order="sorted").encode
# json.dumps with these options builds an encoder per call: one, kept, encodes every document
_DOC_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_KINDS = frozenset(k.value for k in ChangeKind)
_STATUSES = frozenset(s.value for s in ChangeStatus)
_MIGRATION = ChangeKind.MIGRATION.value
_SUCCEEDED = ChangeStatus.SUCCEEDED.value
_ID_MAX, _SERVICE_MAX = MAX_LENGTHS["id"], MAX_LENGTHS["service"]
_ENV_MAX, _SOURCE_MAX = MAX_LENGTHS["environment"], MAX_LENGTHS["source"]
_VERSION_MAX = MAX_LENGTHS["version"]
_NO_SCOPE = (None, None)
# a raw scope as written -> (scope for the doc, its key column); a file repeats a few scopes
_scopes: dict[bytes, tuple[dict[str, list[str]] | None, str | None]] = {b"": _NO_SCOPE,
                                                                        b"null": _NO_SCOPE}


class _NotSure(Exception):
    """The line needs the full validator."""


def prepare_line(line: bytes) -> Prepared | None:
    """The prepared row of a JSON Lines ``line`` that ``change_from_dict`` would accept, or
    None when this path cannot vouch for the line (the caller validates it in full)."""
    if b"\\" in line:  # escapes may hide NUL, lone surrogates: the validator checks those
        return None
    try:
        return _prepare(_DECODE(line), line)
    except (msgspec.DecodeError, InvalidInput, _NotSure, ValueError, TypeError,
            OverflowError):
        return None


def _utc(text: str) -> datetime:
    """``parse_rfc3339`` of a string, raising on anything it would refuse."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise _NotSure
    utc = dt.astimezone(UTC)
    if not EARLIEST <= utc <= LATEST:
        raise _NotSure
    return utc


def _prepare(event: _Event, line: bytes) -> Prepared:
    change_id, kind = event.id, event.kind
    if not change_id.strip() or kind not in _KINDS or len(change_id) > _ID_MAX:
        raise _NotSure
    one, many = event.service, event.services
    if one is not None:
        if many is not None or not one or len(one) > _SERVICE_MAX:
            raise _NotSure
        services: tuple[str, ...] = (one,)
    else:
        if not many or not all(many) or any(len(s) > _SERVICE_MAX for s in many):
            raise _NotSure
        services = tuple(dict.fromkeys(many))
    at = _utc(event.at)
    started_at = None if event.started_at is None else _utc(event.started_at)
    if started_at is not None and started_at > at:
        raise _NotSure
    environment = "production" if event.environment is msgspec.UNSET else event.environment
    status = _SUCCEEDED if event.status is msgspec.UNSET else event.status
    assert isinstance(environment, str) and isinstance(status, str)
    if not environment or len(environment) > _ENV_MAX or status not in _STATUSES:
        raise _NotSure
    version, source = event.version, event.source
    if (version is not None and len(version) > _VERSION_MAX) or (
            source is not None and len(source) > _SOURCE_MAX):
        raise _NotSure
    scope_doc, scope_column = _scope(event.scope)
    details = _details(event.details)

    at_text = format_utc(at)
    doc: dict[str, Any] = {"id": change_id, "kind": kind, "environment": environment,
                           "at": at_text, "status": status}
    if len(services) == 1 and services[0] != GLOBAL:
        doc["service"] = services[0]
    else:
        doc["services"] = list(services)
    if started_at is not None:
        doc["started_at"] = format_utc(started_at)
    for name, value in (("version", version), ("previous_version", event.previous_version),
                        ("reversible", event.reversible), ("scope", scope_doc),
                        ("summary", event.summary), ("author", event.author),
                        ("url", event.url), ("source", source)):
        if value is not None:
            doc[name] = value
    if details:
        doc["details"] = details
        text = _DOC_ENCODER.encode(doc)
    else:
        text = _FAST_ENCODE(doc).decode()
    pct = details.get("rollout_percentage")
    destructive = kind == _MIGRATION and (
        event.reversible is False
        or bool(destructive_operations(change_text(event.summary, details))))
    at_us = int(at.timestamp() * 1_000_000)
    start_us = at_us if started_at is None else int(started_at.timestamp() * 1_000_000)
    row = (change_id, kind, environment, at_us, start_us, status, GLOBAL in services, source,
           text, version, SERVICE_SEPARATOR.join(services),
           float(pct) if isinstance(pct, int | float) else None, destructive, scope_column)
    return Prepared(row, services, line)


def _scope(raw: msgspec.Raw) -> tuple[dict[str, list[str]] | None, str | None]:
    key = bytes(raw)
    known = _scopes.get(key)
    if known is None:
        scope = scope_from_dict(_DECODE_ANY(key), "scope")  # InvalidInput: the validator's
        known = _NO_SCOPE if scope is None else (scope_to_dict(scope), scope_key(scope))
        if len(_scopes) < 10_000:
            _scopes[key] = known
    return known


def _details(raw: msgspec.Raw) -> dict[str, Any]:
    if not raw or raw == b"null":
        return {}
    value = _DECODE_ANY(raw)
    if not isinstance(value, Mapping):
        raise _NotSure
    check_json(value, "details")
    return value  # type: ignore[return-value]


__all__ = ["COLUMNS", "WRITER_COLUMNS", "Prepared", "change_doc", "prepare", "prepare_change",
           "prepare_line"]
