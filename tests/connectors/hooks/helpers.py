"""Shared helpers for the webhook parser tests: where payloads live and how to check a result."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.hooks import HookContext, Parsed, parser_for
from rollback_advisor.models import change_from_dict

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hooks"
EXTERNAL = Path(__file__).resolve().parents[3].parent / "shared" / "external"
EXTERNAL_ABSENT = (f"{EXTERNAL} is absent (the team's shared collection of vendor payloads); "
                   "the copies in tests/fixtures/hooks still cover the parsers")


def fixture(relpath: str) -> bytes:
    """The raw bytes of a copied payload under tests/fixtures/hooks."""
    return (FIXTURES / relpath).read_bytes()


def fixture_json(relpath: str) -> Any:
    return json.loads(fixture(relpath))


def ctx(source: str, mapping: Mapping[str, str] | None = None,
        environment: str | None = None, **more: Any) -> HookContext:
    return HookContext(hook_id="hk_test", source=source, mapping=dict(mapping or {}),
                       environment=environment, **more)


def parse(source: str, body: bytes | Any, headers: Mapping[str, str] | None = None,
          **context: Any) -> Parsed:
    """Parse ``body`` (bytes, or a JSON value to encode) with the ``source`` parser."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parser_for(source).parse(dict(headers or {}), raw, ctx(source, **context))


def assert_valid(parsed: Parsed, source: str) -> None:
    """Either changes that survive the DESIGN §1 round trip, or an explicit ignore reason."""
    assert parsed.event
    if parsed.ignored is not None:
        assert parsed.changes == []
        assert isinstance(parsed.ignored, str) and parsed.ignored.strip()
        return
    assert parsed.changes, "a delivery that stores nothing must say why (ignored)"
    for change in parsed.changes:
        assert change_from_dict(change.to_dict()) == change
        json.dumps(change.to_dict())  # details must be plain JSON
        assert change.at.utcoffset() is not None
        if source != "generic":  # generic events may bring their own id and source
            assert change.id.startswith(f"{source}:")
            assert change.source == source


def strip_jsonc(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments outside JSON strings (the GitLab docs extract)."""
    out: list[str] = []
    i, in_string = 0, False
    while i < len(text):
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\":
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)
