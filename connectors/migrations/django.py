"""Django's ``django_migrations`` table and, where available, the migration files.

Upstream: https://docs.djangoproject.com/en/stable/topics/migrations/ (the recorder table) and
https://docs.djangoproject.com/en/stable/ref/migration-operations/ (the operations).

One change per row: ``applied`` is the real application time (Django writes it right after
the migration ran). The cursor is the last row ``id``: ids only grow, while ``applied`` can
repeat within a ``migrate`` run and is not ordered across apps.

With a ``scripts`` directory the file ``<scripts>/<app>/migrations/<name>.py`` (or
``<scripts>/<app>/<name>.py``) is parsed with ``ast``, never imported: RemoveField,
DeleteModel, RenameField, RenameModel and destructive SQL in RunSQL make the change
irreversible; RunSQL without ``reverse_sql`` and RunPython without ``reverse_code`` are
irreversible because Django itself refuses to unapply them; AlterField is a caution only
(its effect depends on the previous field, which the file does not show).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from ._common import Content, DatabaseConfig, ReadResult, aware, build_change, find_file


def read(conn: Connection, db: DatabaseConfig, state: Mapping[str, Any] | None,
         now: datetime) -> ReadResult:
    """Rows with an id above the cursor's, oldest first."""
    last = int((state or {}).get("last_id", 0))
    rows = conn.execute(text(f"SELECT id, app, name, applied FROM {db.table} "
                             "WHERE id > :last ORDER BY id"), {"last": last}).all()
    changes = []
    for row in rows:
        app, name = str(row.app), str(row.name)
        content = _content(db, app, name)
        applied = aware(row.applied, db.timezone, f"{db.table}.applied")
        changes.append(build_change(
            db, external_id=f"{app}.{name}", at=applied, summary=f"{app}.{name}",
            content=content, version=f"{app}.{name}", previous_version=_previous(app, name),
            extra={"app": app, "name": name, "row_id": int(row.id)}))
        last = max(last, int(row.id))
    return ReadResult(changes=changes, state={"last_id": last})


def _previous(app: str, name: str) -> str | None:
    """The migration before this one in its app by Django's numbering (0042 -> 0041)."""
    number = name.split("_", 1)[0]
    if number.isdigit() and int(number) > 1:
        return f"{app}.{int(number) - 1:0{len(number)}d}"
    return None


def _content(db: DatabaseConfig, app: str, name: str) -> Content:
    path = find_file(db.scripts, [f"{app}/migrations/{name}.py", f"{app}/{name}.py"])
    if path is None:
        return Content()
    source = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return Content(path=str(path))
    content = Content(known=True, path=str(path))
    forward: list[str] = []
    for call in _operations(tree):
        op = _name(call.func)
        segment = ast.get_source_segment(source, call) or op
        content.operations.append(" ".join(segment.split()))
        if op == "RunSQL":
            sql = _strings(_arg(call, 0, "sql"))
            content.sql.extend(sql)
            forward.extend(sql)
            if _arg(call, 1, "reverse_sql") is None:
                content.irreversible.append("RunSQL without reverse_sql: Django cannot "
                                            "unapply it")
        elif op == "RunPython":
            if _arg(call, 1, "reverse_code") is None:
                content.irreversible.append("RunPython without reverse_code: Django cannot "
                                            "unapply it")
            content.cautions.append("RunPython changes data in code the file does not show")
        elif op == "AlterField":
            content.cautions.append("AlterField " + _target(call)
                                    + ": type or constraints may change")
            forward.append(segment)
        elif op == "SeparateDatabaseAndState":
            content.known = False  # nested operations: read what we can, claim no certainty
        else:
            forward.append(segment)  # sqlrisk describes RemoveField, RenameField, ...
    content.forward_text = "\n\n".join(forward)
    return content


def _operations(tree: ast.Module) -> list[ast.Call]:
    """The calls in ``Migration.operations``, in order."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            for item in node.body:
                targets = (item.targets if isinstance(item, ast.Assign)
                           else [item.target] if isinstance(item, ast.AnnAssign) else [])
                value = getattr(item, "value", None)
                if (any(isinstance(t, ast.Name) and t.id == "operations" for t in targets)
                        and isinstance(value, ast.List | ast.Tuple)):
                    return [e for e in value.elts if isinstance(e, ast.Call)]
    return []


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return "?"


def _arg(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[position] if len(call.args) > position else None


def _strings(node: ast.expr | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple):
        return [s for e in node.elts for s in _strings(e)]
    return []


def _target(call: ast.Call) -> str:
    parts = [_strings(_arg(call, 0, "model_name")), _strings(_arg(call, 1, "name"))]
    return ".".join(p[0] for p in parts if p) or "?"
