"""``rollback-advisor incidents list|show|open|resolve`` and ``verdict`` (DESIGN §7).

Loaded lazily by the root group (a surface, like ``hooks``). The same ``IncidentDesk`` as the
hook endpoint and the API: an incident opened here gets its advice computed and kept, and
``on_advice`` is called as for one an alert opened.
"""

from __future__ import annotations

import json

import click

from ..advisor import Advisor
from ..incident_input import scope_from_texts, symptoms_from_texts
from ..incidents import IncidentDesk, incident_number
from ..models import Incident, dumps
from ..store.incidents import AdviceEntry, IncidentRecord
from ..timeutil import parse_when, utc_now
from ..verdict_desk import VerdictDesk
from ..verdicts import Verdict, VerdictKind

TEXT_JSON = click.Choice(["text", "json"])


def _desk() -> IncidentDesk:
    from ..cli import _app
    from .incident_posting import on_advice

    app = _app()
    advisor: list[Advisor] = []

    def shared() -> Advisor:  # one advisor (one graph build) per command
        if not advisor:
            advisor.append(app.advisor())
        return advisor[0]

    def announce(incident: IncidentRecord, entry: AdviceEntry) -> None:
        on_advice(incident, entry, settings=app.settings, store=app.store())

    return IncidentDesk(app.store(), shared, default_environment=app.settings.environment,
                        on_advice=announce)


def _line(record: IncidentRecord) -> str:
    s = record.state
    symptoms = ", ".join(x["node"] for x in s.symptoms())
    return (f"{record.id:>5}  {s.status:<8}  {s.started_at:%Y-%m-%d %H:%M}Z  {s.target}"
            + (f"  (+ {symptoms})" if symptoms else "")
            + (f"  {record.title}" if record.title else ""))


def _show(desk: IncidentDesk, record: IncidentRecord, fmt: str) -> None:
    history = desk.tables.advice_history(record.id)
    if fmt == "json":
        click.echo(dumps({**record.to_dict(), "advice": [e.to_dict() for e in history]}))
        return
    data = record.to_dict()
    click.echo(f"incident {record.id}: {data['title'] or data['target']}")
    click.echo(f"  status:      {data['status']}"
               + (f" at {data['resolved_at']}" if data["resolved_at"] else ""))
    click.echo(f"  target:      {data['target']}  ({data['environment']}, since "
               f"{data['started_at']})")
    for sym in data["symptoms"]:
        click.echo(f"  symptom:     {sym['node']} since {sym['started_at']} ({sym['status']})")
    if data["scope"]:
        click.echo("  scope:       " + "; ".join(f"{k} {', '.join(v)}"
                                                 for k, v in data["scope"].items()))
    if data["unknown_nodes"]:
        click.echo("  not in graph: " + ", ".join(data["unknown_nodes"]))
    click.echo(f"  source:      {data['source']}"
               + (f" {data['external_id']}" if data["external_id"] else "")
               + (f"  {data['url']}" if data["url"] else ""))
    for entry in history:
        what = (f"{entry.decision} {entry.change_id or '-'} ({entry.confidence:.2f})"
                if entry.decision and entry.confidence is not None else f"error: {entry.error}")
        click.echo(f"  advice {entry.at:%Y-%m-%d %H:%M:%S}Z [{entry.trigger}]: {what}")


@click.group("incidents")
def incidents() -> None:
    """Incidents opened by alerts (or by hand), with the advice kept for each."""


@incidents.command("list")
@click.option("--status", type=click.Choice(["open", "resolved"]))
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def incidents_list(status: str | None, limit: int, fmt: str) -> None:
    """List incidents, the latest onset first."""
    found = _desk().tables.list(status=status, limit=limit)
    if fmt == "json":
        click.echo(dumps([r.to_dict() for r in found]))
        return
    if not found:
        click.echo("no incidents")
    for record in found:
        click.echo(_line(record))


@incidents.command("show")
@click.argument("incident_id")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def incidents_show(incident_id: str, fmt: str) -> None:
    """Show an incident, its alerts and its advice history."""
    desk = _desk()
    _show(desk, desk.tables.get(incident_number(incident_id)), fmt)


@incidents.command("open")
@click.argument("target")
@click.option("--at", default="now", show_default=True,
              help="Onset: RFC 3339, 'now', '-15m' or '2h ago'.")
@click.option("--environment", help="Default: the config's environment.")
@click.option("--symptom", "symptoms", multiple=True, metavar="NODE[@TIME]",
              help="Another failing node (repeatable), as for 'recommend'.")
@click.option("--scope", "scope", multiple=True, metavar="LABEL=VALUE",
              help="Where it fails (repeatable).")
@click.option("--title", help="A line for people.")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def incidents_open(target: str, at: str, environment: str | None, symptoms: tuple[str, ...],
                   scope: tuple[str, ...], title: str | None, fmt: str) -> None:
    """Open an incident by hand; its advice is computed and kept."""
    from ..cli import _app

    now = utc_now()
    onset = parse_when(at, now, "--at")
    incident = Incident(target=target, started_at=onset,
                        environment=environment or _app().settings.environment,
                        symptoms=symptoms_from_texts(symptoms, onset=onset, now=now,
                                                     field="--symptom"),
                        scope=scope_from_texts(scope, "--scope"))
    desk = _desk()
    _show(desk, desk.open(incident, title=title), fmt)


@incidents.command("resolve")
@click.argument("incident_id")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def incidents_resolve(incident_id: str, fmt: str) -> None:
    """Resolve an incident by hand (alerts that fire again reopen it)."""
    record = _desk().resolve(incident_number(incident_id))
    if fmt == "json":
        click.echo(json.dumps({"id": record.id, "status": record.state.status}))
    else:
        click.echo(f"incident {record.id} resolved")


def _verdict_desk() -> VerdictDesk:
    from ..cli import _app
    from .incident_posting import on_verdict

    app = _app()

    def announce(incident: IncidentRecord, verdict: Verdict) -> None:
        on_verdict(incident, verdict, settings=app.settings, store=app.store())

    return VerdictDesk(app.store(), on_verdict=announce)


def _default_by() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container's unnamed uid)
        return "cli"


@click.command("verdict")
@click.argument("incident_id")
@click.option("--culprit", metavar="CHANGE", help="This change caused the incident.")
@click.option("--not", "not_culprit", metavar="CHANGE", help="This change did not cause it.")
@click.option("--no-change", is_flag=True, help="No change caused it (the top suspect of "
              "the latest advice is also marked not the culprit).")
@click.option("--note", help="Free text kept with the verdict.")
@click.option("--by", help="Who concluded it (default: your login name).")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def verdict(incident_id: str, culprit: str | None, not_culprit: str | None, no_change: bool,
            note: str | None, by: str | None, fmt: str) -> None:
    """Record a responder's verdict on an incident (what the learnt priors learn from).

    Exactly one of --culprit CHANGE, --not CHANGE or --no-change. A later verdict on the same
    (incident, change) replaces the earlier one.
    """
    given = [(VerdictKind.CULPRIT, culprit), (VerdictKind.NOT_CULPRIT, not_culprit),
             (VerdictKind.NO_CHANGE, None if not no_change else "")]
    chosen = [(kind, change) for kind, change in given if change is not None]
    if len(chosen) != 1:
        from ..cli import _fail

        _fail(f"give exactly one of --culprit CHANGE, --not CHANGE or --no-change "
              f"({len(chosen)} given)", 2)
    kind, change = chosen[0]
    stored = _verdict_desk().record(incident_number(incident_id), change=change or None,
                                    verdict=kind, by=by or _default_by(), note=note)
    if fmt == "json":
        click.echo(dumps([v.to_dict() for v in stored]))
        return
    for v in stored:
        click.echo(f"incident {v.incident}: {v.change or '(no change)'} {v.verdict.value} "
                   f"by {v.by} at {v.at:%Y-%m-%d %H:%M:%S}Z"
                   + (f" ({v.note})" if v.note else ""))


__all__ = ["incidents", "verdict"]
