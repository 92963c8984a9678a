"""Responders' verdicts in the store: record, list, reset (issue #8).

One row per (incident, change): a later verdict (by its own time ``at``) replaces the earlier,
an older one arriving late leaves it as is, so redelivered or reordered clicks end the same.
``culprit`` and ``no_change`` are the incident's conclusion and exclude each other the same way:
a culprit verdict later than the incident's ``no_change`` replaces it (and a later ``no_change``
replaces every earlier culprit), an earlier one arriving late is not stored. ``not_culprit``
rows stand beside either.
Each row keeps the kind and source of its change, copied from the stored change when the
verdict is recorded, so learning reads this table alone.

Every write bumps a counter in ``store_meta`` in the same transaction: readers that cache what
they learnt from the verdicts (the Advisor, in each service worker) compare one integer to
know when to learn again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import SQLAlchemyError

from ..errors import NotFound, StoreError
from ..models import ChangeKind
from ..store_reads import VERDICTS_VERSION_KEY, verdict_of
from ..verdicts import Verdict, VerdictKind
from . import Store, _now_us, _reason, _us
from .schema import changes, store_meta, verdicts

VERSION_KEY = VERDICTS_VERSION_KEY


class VerdictStore:
    """The verdicts table behind a Store's engine."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, verdict: Verdict) -> Verdict:
        """Store ``verdict`` with its change's kind and source; what was stored is returned.

        Raises:
            NotFound: the verdict names a change the store does not hold (and carries no kind
                of its own, as a verdict re-imported from another store would).
        """
        try:
            with self.store.engine.begin() as conn:
                verdict = self._with_change(conn, verdict)
                if not self._settle_conclusion(conn, verdict):
                    return verdict
                row = _row(verdict)
                stmt = self.store._insert(verdicts).values(row)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["incident", "change_key"],
                    set_={k: stmt.excluded[k] for k in row if k not in ("incident",
                                                                        "change_key")},
                    where=verdicts.c.at_us <= stmt.excluded.at_us))
                self._bump(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"store write failed: {_reason(exc)}") from None
        return verdict

    def _settle_conclusion(self, conn: Connection, verdict: Verdict) -> bool:
        """Make room for ``verdict`` among the incident's conclusions: delete the opposite
        conclusion's rows that are not later than it; False (store nothing) when one is."""
        if verdict.verdict is VerdictKind.CULPRIT:
            other = (verdicts.c.verdict == VerdictKind.NO_CHANGE.value)
        elif verdict.verdict is VerdictKind.NO_CHANGE:
            other = (verdicts.c.verdict == VerdictKind.CULPRIT.value)
        else:
            return True
        mine = (verdicts.c.incident == verdict.incident) & other
        at = _us(verdict.at)
        if conn.execute(select(verdicts.c.at_us).where(mine & (verdicts.c.at_us > at))
                        .limit(1)).first() is not None:
            return False
        conn.execute(delete(verdicts).where(mine))
        return True

    def _with_change(self, conn: Connection, verdict: Verdict) -> Verdict:
        if verdict.change is None:
            return verdict
        found = conn.execute(select(changes.c.kind, changes.c.source)
                             .where(changes.c.id == verdict.change)).first()
        if found is not None:
            return _replace(verdict, ChangeKind(found.kind), found.source)
        if verdict.kind is None:
            raise NotFound(f"change: {verdict.change!r} is not stored; a verdict names a "
                           "stored change (its kind and source are what the priors learn)",
                           field="change")
        return verdict

    def list(self, incident: str | None = None) -> list[Verdict]:
        """Every verdict (or one incident's), by incident then change."""
        if incident is None:
            return self.store.verdicts()
        stmt = (select(verdicts).where(verdicts.c.incident == incident)
                .order_by(verdicts.c.incident, verdicts.c.change_key))
        with self.store.engine.connect() as conn:
            return [_verdict(r._mapping) for r in conn.execute(stmt)]

    def delete_all(self) -> int:
        """Forget every verdict (``priors reset``); how many there were."""
        with self.store.engine.begin() as conn:
            count = conn.execute(delete(verdicts)).rowcount
            self._bump(conn)
        return int(count or 0)

    def version(self) -> int:
        """A number that changes whenever the verdicts do (0 before the first write)."""
        return self.store.verdicts_version()

    def _bump(self, conn: Connection) -> None:
        stmt = self.store._insert(store_meta).values(key=VERSION_KEY, value=1)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": store_meta.c.value + 1}))


def _replace(v: Verdict, kind: ChangeKind, source: str | None) -> Verdict:
    return Verdict(v.incident, v.change, v.verdict, v.by, v.at, v.note, kind, source)


def _row(v: Verdict) -> dict[str, Any]:
    return {"incident": v.incident, "change_key": v.change or "", "verdict": v.verdict.value,
            "by": v.by, "at_us": _us(v.at), "note": v.note,
            "kind": v.kind.value if v.kind else None, "source": v.source,
            "recorded_us": _now_us()}


def _verdict(row: Any) -> Verdict:
    return verdict_of(row["incident"], row["change_key"], row["verdict"], row["by"],
                      row["at_us"], row["note"], row["kind"], row["source"])
