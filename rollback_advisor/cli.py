"""The ``rollback-advisor`` command line (DESIGN §6).

Commands call the same core as the web service; an AdvisorError becomes one line on stderr and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from .errors import AdvisorError, InvalidInput

# Everything else is imported where a command needs it: `--help`, and every command, would
# otherwise pay for SQLAlchemy, the engine and YAML before doing anything (issue 11;
# tests/meta/test_startup.py keeps --help free of them).
if TYPE_CHECKING:
    from .advisor import Advice, Advisor
    from .config import Settings
    from .models import Incident
    from .store import Store
    from .store.prepared import Prepared
    from .store_reads import AdviceReads, QuickReader

TEXT_JSON = click.Choice(["text", "json"])
TEXT_JSON_SLACK = click.Choice(["text", "json", "slack"])


class _App:
    """Per-invocation state: settings, and the store opened only when a command needs it."""

    def __init__(self, config: str | None, database: str | None) -> None:
        from .config import load_settings

        self.settings: Settings = load_settings(config)
        self.database = database or self.settings.database_url
        self._store: Store | None = None
        self._quick: QuickReader | None = None

    def store(self) -> Store:
        if self._store is None:
            from .store import open_store

            self._store = open_store(self.database, self.settings.data_path)
        return self._store

    def reader(self) -> AdviceReads:
        """What an answer reads: a SQLite store at the current schema straight through sqlite3
        (no SQLAlchemy, no Alembic: a responder's first answer comes at once), else the Store,
        which migrates. The same SQL either way (store_reads.py)."""
        if self._quick is None and self._store is None:
            from .store_reads import QuickReader, default_url

            self._quick = QuickReader.open(self.database
                                           or default_url(self.settings.data_path))
        return self._quick or self.store()

    def advisor(self) -> Advisor:
        from .advisor import Advisor

        return Advisor(self.store(), self.settings)

    def close(self) -> None:
        if self._quick is not None:
            self._quick.close()
        if self._store is not None:
            self._store.close()


class _Group(click.Group):
    """The root group: one-line errors, and commands of the interface layers loaded lazily.

    ``sync`` (connectors, vendor SDKs) and the service commands (web) are imported on first use,
    Click's lazy-subcommand pattern, so the core CLI never imports them just to start. ``--help``
    lists them by the summary kept here (tests/meta/test_startup.py checks each against its
    command's own help), not by importing Flask and the connectors to read it.
    """

    lazy: dict[str, tuple[str, str]] = {
        "sync": ("connectors.cli:sync_command",
                 "Run the configured connectors and store the changes they find."),
        "serve": ("rollback_advisor.web.cli:serve",
                  "Run the HTTP service (gunicorn with several workers; --dev for Flask's "
                  "server)."),
        "hooks": ("rollback_advisor.web.cli:hooks", "Register, list and revoke CI deploy hooks."),
        "tokens": ("rollback_advisor.web.cli:tokens",
                   "Create and revoke API tokens (stored hashed; shown once)."),
        "notify": ("rollback_advisor.web.cli:notify",
                   "Post a change event to a hook from CI, signed with the hook's secret."),
        "deliveries": ("rollback_advisor.web.replay:deliveries", "Stored raw hook deliveries."),
        "incidents": ("rollback_advisor.web.incident_cli:incidents",
                      "Incidents opened by alerts (or by hand), with the advice kept for each."),
        "verdict": ("rollback_advisor.web.incident_cli:verdict",
                    "Record a responder's verdict on an incident (what the learnt priors learn "
                    "from)."),
    }
    _summaries_only = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            path, summary = self.lazy[name]
            if self._summaries_only:
                return click.Command(name, help=summary)
            module, attr = path.split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._summaries_only = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._summaries_only = False

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AdvisorError as exc:
            _fail(exc.message)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", envvar="ROLLBACK_ADVISOR_CONFIG", metavar="PATH",
              help="Configuration file (default: ./rollback-advisor.yaml if present).")
@click.option("--database", metavar="URL", help="Store URL (overrides the config and "
              "ROLLBACK_ADVISOR_DATABASE_URL); default: SQLite in the data directory.")
@click.version_option(package_name="rollback-advisor")
@click.pass_context
def cli(ctx: click.Context, config: str | None, database: str | None) -> None:
    """Which recent change most likely broke this endpoint, and should we roll it back?"""
    app = _App(config, database)
    ctx.obj = app
    ctx.call_on_close(app.close)


def _app() -> _App:
    app = click.get_current_context().find_object(_App)
    assert app is not None  # the root group always sets it
    return app


# -- graph ------------------------------------------------------------------------------------

@cli.group()
def graph() -> None:
    """Load, show and check the dependency graph."""


@graph.command("load")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def graph_load(path: Path, fmt: str) -> None:
    """Store the graph from a DESIGN §2 YAML, a Backstage catalog or an edge list."""
    from .graph_import import load_graph_file
    from .models import dumps

    document = load_graph_file(path)
    g = _app().advisor().save_graph(document)
    report = g.check()
    if fmt == "json":
        click.echo(dumps({"nodes": report.nodes, "edges": report.edges,
                          "endpoints": report.endpoints, "unknown_nodes": report.unknown_nodes,
                          "cycles": report.cycles}))
        return
    click.echo(f"stored graph from {path}: {report.nodes} nodes, {report.endpoints} endpoints, "
               f"{report.edges} edges")
    if not report.ok:
        click.echo("run 'rollback-advisor graph check' for the problems found")


@graph.command("show")
@click.argument("node")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def graph_show(node: str, fmt: str) -> None:
    """Print a node's dependencies and dependants."""
    from .models import dumps

    g = _app().advisor().graph()
    name = g.resolve(node)
    reach = g.reach_from(name)
    info: dict[str, Any] = {
            "node": name, "type": g.node_type(name), "depends_on": g.dependencies(name),
            "dependants": g.dependants(name),
            "reaches": {n: r.hops for n, r in sorted(reach.items(), key=lambda x: x[1].hops)
                        if n != name}}
    if fmt == "json":
        click.echo(dumps(info))
        return
    click.echo(f"{name} ({info['type']})")
    click.echo("  depends on:  " + (", ".join(info["depends_on"]) or "-"))
    click.echo("  dependants:  " + (", ".join(info["dependants"]) or "-"))
    deeper = [f"{n} ({h})" for n, h in info["reaches"].items() if h > 1]
    if deeper:
        click.echo("  reaches:     " + ", ".join(deeper))


@graph.command("check")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def graph_check(fmt: str) -> None:
    """Report unknown nodes, cycles and isolated nodes; exit 1 when a node is unknown."""
    from .models import dumps

    app = _app()
    g = app.advisor().graph()
    report = g.check(app.store().referenced_services())
    if fmt == "json":
        click.echo(dumps({"ok": report.ok, "nodes": report.nodes, "edges": report.edges,
                          "endpoints": report.endpoints, "unknown_nodes": report.unknown_nodes,
                          "cycles": report.cycles, "isolated": report.isolated}))
    else:
        click.echo(f"{report.nodes} nodes, {report.endpoints} endpoints, {report.edges} edges")
        for node, by in sorted(report.unknown_nodes.items()):
            click.echo(f"unknown node {node!r}, named by {', '.join(by)}")
        for cycle in report.cycles:
            click.echo("cycle: " + " <-> ".join(cycle))
        if report.isolated:
            click.echo("isolated: " + ", ".join(report.isolated))
        if report.ok and not report.isolated:
            click.echo("ok")
    if report.unknown_nodes:
        sys.exit(1)


# -- import and changes -----------------------------------------------------------------------

@cli.command("import")
@click.argument("source", type=click.File("rb"))
@click.option("--skip-invalid", is_flag=True,
              help="Store the valid lines even when some are rejected.")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def import_(source: IO[bytes], skip_invalid: bool, fmt: str) -> None:
    """Import change events from a JSON Lines file ('-' for stdin).

    Every line is validated; if any is rejected nothing is stored (a batch is all or nothing)
    unless --skip-invalid is given.
    """
    from .models import dumps
    from .store.import_lines import PARALLEL_FROM, read_lines

    rejected: list[tuple[int, str]] = []
    size = _size(source)

    class _Abort(Exception):
        pass

    def valid(bar: Any) -> Iterator[Prepared]:
        # a well-formed line is prepared without the full validator (store/prepared.py);
        # any other goes through change_from_dict, whose errors name the line and field
        for number, found in read_lines(source, parallel=(size or 0) >= PARALLEL_FROM,
                                        progress=bar.update):
            if isinstance(found, str):
                rejected.append((number, found))
            else:
                yield found
        if rejected and not skip_invalid:
            raise _Abort

    store = _app().store()
    # redrawn every 0.1% of the file, not every line: on a terminal each redraw cost ~5 us a line
    with click.progressbar(length=size or 0, label="importing", file=sys.stderr,
                           hidden=not size or size < 1_000_000,
                           update_min_steps=max(1, (size or 0) // 1000)) as bar:
        try:
            result = store.import_prepared(valid(bar))
        except _Abort:
            result = None
    summary = {"inserted": result.inserted if result else 0,
               "duplicates": result.duplicates if result else 0,
               "rejected": len(rejected), "stored": result is not None,
               "rejections": [{"line": n, "reason": why} for n, why in rejected]}
    if fmt == "json":
        click.echo(dumps(summary))
    else:
        for n, why in rejected:
            click.echo(f"line {n}: {why}", err=True)
        click.echo(f"inserted {summary['inserted']}, duplicates {summary['duplicates']}, "
                   f"rejected {len(rejected)}")
    if result is None:
        _fail("nothing stored because of the rejected lines above; fix them or pass "
              "--skip-invalid")


def _size(stream: IO[bytes]) -> int | None:
    try:
        return Path(stream.name).stat().st_size if stream.name not in ("<stdin>", "-") else None
    except (OSError, AttributeError, TypeError):
        return None


@cli.command("changes")
@click.option("--service", help="Only changes to this node (global changes included).")
@click.option("--since", help="RFC 3339, 'now', '-2h' or '2h ago'.")
@click.option("--until", help="RFC 3339, 'now', '-2h' or '2h ago'.")
@click.option("--kind", help="deploy, migration, config, ...")
@click.option("--environment", help="Default: every environment.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def changes_cmd(service: str | None, since: str | None, until: str | None, kind: str | None,
                environment: str | None, limit: int, fmt: str) -> None:
    """List stored changes, newest first."""
    from .models import dumps
    from .render import changes_text
    from .timeutil import parse_when, utc_now

    now = utc_now()
    found = _app().store().list_changes(
        service=service, kind=kind, environment=environment, limit=limit,
        since=parse_when(since, now, "--since") if since else None,
        until=parse_when(until, now, "--until") if until else None)
    click.echo(dumps([c.to_dict() for c in found]) if fmt == "json" else changes_text(found))


# -- suspects and recommend -------------------------------------------------------------------

@dataclass(frozen=True)
class _Ask:
    """What ``suspects`` and ``recommend`` share: the incident as typed, and the window."""

    target: str
    at: str
    environment: str | None
    window: str | None
    symptoms: tuple[str, ...]
    scope: tuple[str, ...]

    def incident(self, default_environment: str) -> Incident:
        from .incident_input import scope_from_texts, symptoms_from_texts
        from .models import Incident
        from .timeutil import parse_when, utc_now

        now = utc_now()
        onset = parse_when(self.at, now, "--at")
        return Incident(target=self.target, started_at=onset,
                        environment=self.environment or default_environment,
                        symptoms=symptoms_from_texts(self.symptoms, onset=onset, now=now,
                                                     field="--symptom"),
                        scope=scope_from_texts(self.scope, "--scope"))


def _advise(ask: _Ask) -> Advice:
    from .advisor import Advisor
    from .timeutil import parse_duration

    app = _app()
    incident = ask.incident(app.settings.environment)  # refuse bad input before the store
    if ask.window:
        engine = replace(app.settings.engine, window=parse_duration(ask.window, "--window"))
        app.settings = replace(app.settings, engine=engine)
    return Advisor(app.reader(), app.settings).advise(incident)


def _incident_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """TARGET, --at, --window, --environment, --symptom and --scope, gathered into ``ask``."""
    options = [
        click.argument("target"),
        click.option("--at", default="now", show_default=True,
                     help="Onset: RFC 3339, 'now', '-15m' or '2h ago'."),
        click.option("--window", help="How far back to look, e.g. 24h, 3d (default 24h)."),
        click.option("--environment", help="Default: the config's environment (production)."),
        click.option("--symptom", "symptoms", multiple=True, metavar="NODE[@TIME]",
                     help="Another node seen failing, with its own onset (a time as --at "
                          "takes; default the incident's onset). Repeatable. A node name may "
                          "contain @: only a last @ followed by a time splits."),
        click.option("--scope", "scope", multiple=True, metavar="LABEL=VALUE",
                     help="Where it fails, e.g. region=us-east-1. Repeatable; repeating a "
                          "label adds values."),
    ]

    @functools.wraps(command)
    def wrapper(target: str, at: str, window: str | None, environment: str | None,
                symptoms: tuple[str, ...], scope: tuple[str, ...], **kw: Any) -> Any:
        return command(_Ask(target, at, environment, window, symptoms, scope), **kw)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


@cli.command("suspects")
@_incident_options
@click.option("--limit", type=click.IntRange(1, 1000), help="How many suspects to show.")
@click.option("--format", "fmt", type=TEXT_JSON_SLACK, default="text", show_default=True)
def suspects_cmd(ask: _Ask, limit: int | None, fmt: str) -> None:
    """Rank the recent changes that could have broken TARGET (an endpoint or a node)."""
    from .models import dumps
    from .render import advice_slack, suspects_report

    advice = _advise(ask)
    n = limit or _app().settings.output.max_suspects
    if fmt == "json":
        data = advice.ranking.to_dict()
        data["suspects"] = data["suspects"][:n] if limit else data["suspects"]
        click.echo(dumps(data))
    elif fmt == "slack":
        click.echo(advice_slack(advice, n))
    else:
        click.echo(suspects_report(advice, n))


@cli.command("recommend")
@_incident_options
@click.option("--format", "fmt", type=TEXT_JSON_SLACK, default="text", show_default=True)
def recommend_cmd(ask: _Ask, fmt: str) -> None:
    """Say whether to roll back, fix forward or investigate, with confidence and reasons."""
    advice = _advise(ask)
    _print_advice(advice, fmt)


def _print_advice(advice: Advice, fmt: str) -> None:
    from .render import advice_json, advice_slack, advice_text

    n = _app().settings.output.max_suspects
    if fmt == "json":
        click.echo(advice_json(advice))
    elif fmt == "slack":
        click.echo(advice_slack(advice, n))
    else:
        click.echo(advice_text(advice, n))


# -- eval -------------------------------------------------------------------------------------

@cli.command("eval")
@click.argument("paths", nargs=-1, required=True)
@click.option("--learn", is_flag=True, help="Replay the cases in date order, feeding each "
              "one's answer as verdicts after ranking it: figures with and without learning.")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def eval_cmd(paths: tuple[str, ...], learn: bool, fmt: str) -> None:
    """Score ranking and decisions on case files or folders (DESIGN §3)."""
    from .cases import case_paths, load_case
    from .evaluate import evaluate
    from .learn_replay import replay

    cases = [load_case(p) for p in case_paths(paths)]
    if not cases:
        raise InvalidInput("paths", list(paths), "at least one .yaml/.yml/.json case file")
    if learn:
        _print_replay(replay(cases, _app().settings), fmt)
        return
    result = evaluate(cases, _app().settings)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    width = max(len(r["name"]) for r in result["per_case"])
    click.echo(f"{'case':<{width}}  rank  decision     expected     conf")
    for r in result["per_case"]:
        rank = "-" if r["rank"] is None else str(r["rank"])
        ok = " " if r["decision"] == r["expected_decision"] else "x"
        click.echo(f"{r['name']:<{width}}  {rank:>4}  {r['decision']:<11}{ok} "
                   f"{r['expected_decision']:<11}  {r['confidence']:.2f}")
    click.echo("")
    click.echo(f"{result['cases']} cases   {'':<14} top1   top3   mrr")
    click.echo(f"{'engine':<24} {result['top1']:.3f}  {result['top3']:.3f}  {result['mrr']:.3f}"
               f"   decision accuracy {result['decision_accuracy']:.3f}")
    for name, m in result["baselines"].items():
        click.echo(f"{'baseline ' + name:<24} {m['top1']:.3f}  {m['top3']:.3f}  {m['mrr']:.3f}")
    no_change = [r for r in result["per_case"] if r["culprit"] is None]
    rollbacks = sum(r["decision"] == "rollback" for r in no_change)
    click.echo(f"rollbacks in no-change incidents: {rollbacks} of {len(no_change)}")
    click.echo(f"Brier score of the top suspect: {result['brier']:.4f}   "
               "(reliability: predicted -> observed)")
    for row in result["reliability"]:
        click.echo(f"  {row['bin']}: {row['cases']:>3} cases  {row['predicted']:.2f} -> "
                   f"{row['observed']:.2f}")


def _print_replay(result: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    n = result["cases"]
    click.echo(f"learning replay: {n} cases in date order, {result['verdicts']} verdicts fed "
               "(each case ranked before its own)")
    click.echo(f"{'':<12} top1   top3   mrr    decisions       brier")
    for label, key in (("configured", "without"), ("learnt", "with")):
        m = result[key]
        click.echo(f"{label:<12} {m['top1']:.3f}  {m['top3']:.3f}  {m['mrr']:.3f}  "
                   f"{m['decisions_correct']:>3}/{n} {m['decision_accuracy']:.3f}  "
                   f"{m['brier']:.4f}")
    for label, key in (("better", "decisions_better"), ("worse", "decisions_worse")):
        click.echo(f"decisions {label} with learning: {', '.join(result[key]) or 'none'}")
    moved = [p for p in result["per_case"] if p["with"] != p["without"]]
    shifted = [p for p in moved if (p["with"]["rank"], p["with"]["decision"])
               != (p["without"]["rank"], p["without"]["decision"])]
    click.echo(f"confidence moved in {len(moved)} cases; rank or decision in "
               f"{len(shifted)}{':' if shifted else ''}")
    for p in shifted:
        a, b = p["without"], p["with"]
        click.echo(f"  {p['name']}: rank {a['rank']} -> {b['rank']}, {a['decision']} "
                   f"{a['confidence']:.2f} -> {b['decision']} {b['confidence']:.2f}")


# -- priors -----------------------------------------------------------------------------------

@cli.group()
def priors() -> None:
    """The priors responders' verdicts teach, per (kind, source) of change."""


@priors.command("show")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def priors_show(fmt: str) -> None:
    """Each (kind, source) verdicts name: its counts, multiplier and effective prior."""
    from .learning import learn_priors
    from .store.verdicts import VerdictStore

    engine = _app().settings.engine
    verdicts = VerdictStore(_app().store()).list()
    learnt = learn_priors(verdicts, engine.learned_prior_bounds, engine.learned_prior_strength)
    rows = [{**p.to_dict(), "configured_prior": engine.kind_prior.get(p.kind, 1.0),
             "effective_prior": round(engine.kind_prior.get(p.kind, 1.0)
                                      * (p.factor if engine.learn_priors else 1.0), 4)}
            for p in learnt.values()]
    if fmt == "json":
        click.echo(json.dumps({"learn_priors": engine.learn_priors,
                               "bounds": list(engine.learned_prior_bounds),
                               "strength": engine.learned_prior_strength,
                               "verdicts": len(verdicts), "priors": rows}, indent=2))
        return
    state = "on" if engine.learn_priors else "off (engine.learn_priors: false): the " \
        "configured priors hold"
    lo, hi = engine.learned_prior_bounds
    click.echo(f"{len(verdicts)} verdicts; learning {state}; bounds x{lo:g}..x{hi:g}, "
               f"strength {engine.learned_prior_strength:g}")
    if not rows:
        click.echo("no verdict names a change yet: every prior is as configured")
        return
    width = max(len(f"{r['kind']}/{r['source'] or '-'}") for r in rows)
    click.echo(f"{'kind/source':<{width}}  culprit  not  factor  prior  effective")
    for r in rows:
        name = f"{r['kind']}/{r['source'] or '-'}"
        click.echo(f"{name:<{width}}  {r['culprit']:>7}  {r['not_culprit']:>3}  "
                   f"x{r['factor']:<5.3g}  {r['configured_prior']:<5g}  "
                   f"{r['effective_prior']:g}")


@priors.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def priors_reset(yes: bool) -> None:
    """Delete every verdict, so the configured priors hold again."""
    from .store.verdicts import VerdictStore

    verdicts = VerdictStore(_app().store())
    count = len(verdicts.list())
    if not yes:
        click.confirm(f"Delete all {count} verdicts (the learnt priors go with them)?",
                      abort=True, err=True)
    click.echo(f"deleted {verdicts.delete_all()} verdicts: the configured priors hold")


# -- demo -------------------------------------------------------------------------------------

@cli.command("demo")
@click.option("--format", "fmt", type=TEXT_JSON_SLACK, default="text", show_default=True)
@click.option("--serve", is_flag=True,
              help="Open the demo's incident and serve its page on 127.0.0.1, printing a "
                   "one-time sign-in link (docs/page.md).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="With --serve: the port (0: a free one).")
def demo(fmt: str, serve: bool, port: int) -> None:
    """Run the whole product on bundled data: no credentials, network or server needed.

    Uses its own SQLite file (demo.db in the data directory) unless --database is given, so
    your real store is left alone.
    """
    from importlib import resources

    import yaml

    from .graph_import import load_graph_file
    from .models import Incident, change_from_dict
    from .render import advice_text
    from .timeutil import format_utc, parse_when, utc_now

    app = _app()
    if app.database is None:
        app.database = f"sqlite:///{app.settings.data_path / 'demo.db'}"
    data = resources.files("rollback_advisor") / "demo"
    incident_doc = yaml.safe_load((data / "incident.yaml").read_text(encoding="utf-8"))
    advisor = app.advisor()
    g = advisor.save_graph(load_graph_file(Path(str(data / "graph.yaml"))))
    lines = (data / "changes.jsonl").read_text(encoding="utf-8").splitlines()
    result = app.store().add_changes(change_from_dict(json.loads(x)) for x in lines if x.strip())
    incident = Incident(target=incident_doc["target"],
                        started_at=parse_when(incident_doc["started_at"], utc_now()),
                        environment=incident_doc.get("environment", "production"))
    if serve:
        from .web.demo_serve import serve_demo

        serve_demo(app.settings, app.database, incident, title="demo: ticket booking fails",
                   port=port, echo=click.echo)
        return
    advice = advisor.advise(incident)
    if fmt != "text":
        _print_advice(advice, fmt)
        return
    report = g.check()
    click.echo(f"demo store: {app.database}")
    click.echo(f"graph: {report.nodes} nodes, {report.endpoints} endpoints, {report.edges} edges"
               f" (Train-Ticket topology)")
    click.echo(f"changes: {result.inserted} imported, {result.duplicates} already there, "
               f"{app.store().count_changes()} stored")
    click.echo(f"incident: {incident_doc.get('description', '').strip()}")
    click.echo(f"\n$ rollback-advisor recommend '{incident.target}' "
               f"--at {format_utc(incident.started_at)}\n")
    click.echo(advice_text(advice, app.settings.output.max_suspects))


def main() -> None:  # pragma: no cover - console entry point alias
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["cli", "datetime"]

