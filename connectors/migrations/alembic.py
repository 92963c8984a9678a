"""Alembic's ``alembic_version`` table and its script directory.

Upstream: https://alembic.sqlalchemy.org/en/latest/tutorial.html and
https://alembic.sqlalchemy.org/en/latest/branches.html (several heads = several rows).

``alembic_version`` holds only the current head(s), with no time at all, so application is
detected by watching: the cursor keeps the heads seen by the last sync and when they were
seen. The first sync records them as a baseline and emits nothing (their application time is
unknowable; calling old revisions "applied now" would invent recent suspects). When the heads
move, every revision between the old and the new heads (walked through ``down_revision`` in the
script directory) becomes a change with ``at`` = the time this sync observed it,
``started_at`` = the previous sync (the earliest it can have applied), and
``details.at_is_observed: true``. Moving back down (``alembic downgrade``) is reported the same
way with ``details.direction: "down"``.

A real timestamp where one exists: on PostgreSQL with ``track_commit_timestamp = on``, the commit
time of the ``alembic_version`` row (``pg_xact_commit_timestamp(xmin)``) is when the upgrade
committed, and is used instead (``details.at_source``).

Revision files are parsed with ``ast``, never imported. Only ``upgrade()`` is classified
(``downgrade()`` drops what upgrade added, by design); a ``downgrade()`` that does nothing
(``pass``, a docstring, ``...``) makes the revision irreversible.
"""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from rollback_advisor.timeutil import format_utc

from ._common import (
    Content,
    DatabaseConfig,
    ReadResult,
    aware,
    build_change,
    observed_window,
    previous_observation,
)

_CREATE_DATE = re.compile(r"^Create Date:\s*(.+)$", re.MULTILINE)


@dataclass
class Revision:
    """One revision file: its place in the graph and what its upgrade does."""

    revision: str
    down: tuple[str, ...]
    message: str
    created: str | None
    content: Content = field(default_factory=Content)


def read(conn: Connection, db: DatabaseConfig, state: Mapping[str, Any] | None,
         now: datetime) -> ReadResult:
    """Compare the current heads with the cursor's; emit what moved."""
    heads = sorted(str(v) for (v,) in conn.execute(text(f"SELECT version_num FROM {db.table}")))
    new_state = {"heads": heads, "observed_at": format_utc(now)}
    if state is None or "heads" not in state:
        return ReadResult(changes=[], state=new_state, notes=[
            f"migrations {db.name}: first sync recorded Alembic head(s) "
            f"{', '.join(heads) or '(none)'}; revisions applied from now on become changes"])
    old = [str(h) for h in state["heads"]]
    if sorted(old) == heads:
        return ReadResult(changes=[], state=new_state)
    revisions = load_revisions(db.scripts)
    notes: list[str] = []
    up = _between(revisions, old, heads)
    down = _between(revisions, heads, old)
    if revisions is None or any(h not in revisions for h in heads + old):
        notes.append(f"migrations {db.name}: some Alembic revisions are not in the script "
                     f"directory ({db.scripts or 'not configured'}); reporting the heads only")
    committed = _commit_time(conn, db)
    since = previous_observation(state)
    changes = []
    for direction, names in (("up", up), ("down", down)):
        for name in names:
            rev = (revisions or {}).get(name)
            at = committed or now
            window = ({"at_is_observed": False, "at_source": "pg_xact_commit_timestamp"}
                      if committed else observed_window(state, now))
            extra = {"direction": direction, "revision": name, **window}
            if rev and rev.created:
                extra["created"] = rev.created
            summary = (f"Alembic {name}: {rev.message}" if rev else f"Alembic {name}")
            if direction == "down":
                summary = "downgrade past " + summary
                extra["observed_heads"] = heads
            changes.append(build_change(
                db, external_id=name if direction == "up" else f"{name}:down@{format_utc(now)}",
                at=at, started_at=None if committed else since, summary=summary,
                content=rev.content if rev and direction == "up" else Content(),
                version=name if direction == "up" else "+".join(heads) or None,
                previous_version=("+".join(rev.down) or None) if rev and direction == "up"
                else name,
                extra=extra))
    return ReadResult(changes=changes, state=new_state, notes=notes)


def _between(revisions: dict[str, Revision] | None, old: list[str],
             new: list[str]) -> list[str]:
    """Revisions reachable from ``new`` but not from ``old``, oldest first."""
    if revisions is None:
        return [h for h in new if h not in old]
    below_old = _ancestors(revisions, old)
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name in below_old:
            return
        seen.add(name)
        for parent in revisions[name].down if name in revisions else ():
            visit(parent)
        order.append(name)

    for head in new:
        visit(head)
    return order


def _ancestors(revisions: dict[str, Revision], heads: list[str]) -> set[str]:
    out: set[str] = set()
    stack = list(heads)
    while stack:
        name = stack.pop()
        if name in out:
            continue
        out.add(name)
        if name in revisions:
            stack.extend(revisions[name].down)
    return out


def _commit_time(conn: Connection, db: DatabaseConfig) -> datetime | None:
    """The head rows' commit time on PostgreSQL with track_commit_timestamp; else None."""
    if conn.dialect.name != "postgresql":
        return None
    try:
        enabled = conn.execute(text("SELECT current_setting('track_commit_timestamp')")).scalar()
        if enabled != "on":
            return None
        value = conn.execute(text(
            f"SELECT max(pg_xact_commit_timestamp(xmin)) FROM {db.table}")).scalar()
    except Exception:  # noqa: BLE001 - an optional refinement; the observed time stands in
        return None
    return aware(value, db.timezone, "commit timestamp") if value else None


def load_revisions(scripts: Path | None) -> dict[str, Revision] | None:
    """Every revision file under ``scripts`` by revision id; None without a directory."""
    if scripts is None or not scripts.is_dir():
        return None
    out: dict[str, Revision] = {}
    for path in sorted(scripts.rglob("*.py")):
        rev = _parse(path)
        if rev is not None:
            out[rev.revision] = rev
    return out


def _parse(path: Path) -> Revision | None:
    source = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    values: dict[str, Any] = {}
    functions: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    with contextlib.suppress(ValueError):
                        values[target.id] = ast.literal_eval(node.value)
        elif isinstance(node, ast.FunctionDef):
            functions[node.name] = node
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    down = values.get("down_revision")
    parents = (down,) if isinstance(down, str) else tuple(down or ())
    doc = ast.get_docstring(tree) or ""
    created = _CREATE_DATE.search(doc)
    content = Content(path=str(path))
    upgrade = functions.get("upgrade")
    if upgrade is not None:
        body = "\n\n".join(ast.get_source_segment(source, s) or "" for s in upgrade.body)
        content.forward_text = body
        content.known = True
        content.operations = [" ".join((ast.get_source_segment(source, s) or "").split())
                              for s in upgrade.body if not _trivial(s)]
        content.sql = [s for call in ast.walk(upgrade) if isinstance(call, ast.Call)
                       and isinstance(call.func, ast.Attribute) and call.func.attr == "execute"
                       for s in _first_string(call)]
        if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
               and c.func.attr == "execute" and not _first_string(c) for c in ast.walk(upgrade)):
            content.known = False  # SQL built at run time: cannot vouch that it is additive
    downgrade = functions.get("downgrade")
    does_something = upgrade is not None and not all(_trivial(s) for s in upgrade.body)
    # An empty downgrade of an empty upgrade (a merge point) undoes all there is to undo.
    if does_something and (downgrade is None or all(_trivial(s) for s in downgrade.body)):
        content.irreversible.append("downgrade() does nothing")
    return Revision(revision=revision, down=tuple(str(p) for p in parents),
                    message=doc.strip().splitlines()[0] if doc.strip() else path.stem,
                    created=created.group(1).strip() if created else None, content=content)


def _trivial(stmt: ast.stmt) -> bool:
    """``pass``, ``...`` or a docstring/comment-only statement."""
    return isinstance(stmt, ast.Pass) or (
        isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))


def _first_string(call: ast.Call) -> list[str]:
    arg = call.args[0] if call.args else None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.Call) and arg.args and isinstance(arg.args[0], ast.Constant) \
            and isinstance(arg.args[0].value, str):
        return [arg.args[0].value]  # op.execute(sa.text("..."))
    return []
