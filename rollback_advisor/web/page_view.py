"""What the incident page shows, assembled from the store for one incident or one ad-hoc
answer: the advice, the timeline and path drawings, the Slack text, the history, the verdicts.

The views in ``pages.py`` only pick the template; the drawing is in ``svg_timeline`` and
``svg_paths``, the Slack text is ``render.advice_slack`` (what ``--format slack`` prints).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from markupsafe import Markup

from ..advice_record import advice_from_dict
from ..advisor import Advice
from ..engine import CandidateFilter
from ..errors import AdvisorError, InvalidInput
from ..graph import DependencyGraph
from ..models import GLOBAL, Suspect
from ..render import advice_slack, headline
from ..store.incidents import AdviceEntry, IncidentRecord
from ..timeutil import format_utc, humanize
from ..verdicts import Verdict
from .services import Services
from .svg_paths import paths_svg
from .svg_timeline import Mark, Timeline, timeline_svg

PATH_SUSPECTS = 5  # suspects whose dependency paths are drawn
ALL_SERVICES = "every service"


@dataclass
class PageView:
    """One incident page (``record`` None for an ad-hoc answer)."""

    advice: Advice | None
    record: IncidentRecord | None = None
    history: Sequence[AdviceEntry] = ()
    verdicts: Sequence[Verdict] = ()
    headline: str = ""
    timeline: Markup = Markup("")
    paths: Markup = Markup("")
    off_path: Sequence[Suspect] = ()
    slack: str = ""
    error: str | None = None
    judged: dict[str | None, Verdict] = field(default_factory=dict)


def incident_view(svc: Services, record: IncidentRecord) -> PageView:
    """The page of a stored incident: its latest computed advice, as it was given."""
    desk = svc.incidents()
    history = desk.tables.advice_history(record.id)
    verdicts = svc.verdicts().list(record.id)
    latest = next((e for e in reversed(history) if e.advice is not None), None)
    if latest is None:
        error = next((e.error for e in reversed(history) if e.error), None)
        return PageView(None, record, history, verdicts,
                        error=error or "no advice has been computed for this incident yet")
    try:
        advice = advice_from_dict(latest.advice or {}, svc.store.get_changes)
    except (InvalidInput, KeyError, TypeError, ValueError) as exc:  # stored in another shape
        reason = exc.message if isinstance(exc, InvalidInput) else f"{type(exc).__name__}"
        return PageView(None, record, history, verdicts,
                        error=f"the stored advice could not be read ({reason}); "
                              "the history below still lists it")
    view = answer_view(svc, advice)
    view.record, view.history, view.verdicts = record, history, verdicts
    view.judged = {v.change: v for v in verdicts}
    return view


def answer_view(svc: Services, advice: Advice) -> PageView:
    """The page of an advice: an incident's, or an ad-hoc question's."""
    try:
        graph: DependencyGraph | None = svc.advisor().graph()
    except AdvisorError:
        graph = None  # the graph was removed since: the page still shows the advice
    paths, off_path = _paths(advice, graph)
    return PageView(advice, headline=headline(advice),
                    timeline=Markup(timeline_svg(timeline_of(svc, advice, graph))),
                    paths=Markup(paths), off_path=off_path,
                    slack=advice_slack(advice, svc.settings.output.max_suspects))


def timeline_of(svc: Services, advice: Advice, graph: DependencyGraph | None) -> Timeline:
    """The window's changes (the engine's own bounds) and the suspects, as timeline marks."""
    incident = advice.ranking.incident
    onset = incident.started_at
    marks = [Mark(s.change.id, _lane(s.change.services), s.change.at.timestamp(),
                  s.change.kind.value, s.rank, s.after_onset,
                  f"#{s.rank} {s.change.id}: {s.change.label}, {s.probability:.0%}"
                  f"{' (after onset)' if s.after_onset else ''}, {format_utc(s.change.at)}")
             for s in advice.ranking.suspects]
    start = incident.earliest_onset - advice.ranking.window
    end = onset + svc.settings.engine.list_after_onset
    if graph is not None:
        try:
            bounds = CandidateFilter(graph, incident, svc.settings.engine)
            start, end = bounds.start_at, bounds.end_at
        except AdvisorError:
            pass
    shown = {m.id for m in marks}
    skew = svc.settings.engine.clock_skew.total_seconds()
    for c in svc.store.window_candidates(start=start, end=end,
                                         environment=incident.environment):
        if c.id in shown:
            continue
        after = c.start > onset.timestamp() + skew
        marks.append(Mark(c.id, _lane(c.services), c.at, c.kind.value, None, after))
    failing = [incident.target, *(s.node for s in incident.symptoms)]
    owners = [graph.owner(n) if graph is not None else n for n in failing]
    return Timeline(marks, onset=onset.timestamp(), start=start.timestamp(),
                    end=end.timestamp(),
                    symptoms=[(s.node, s.started_at.timestamp()) for s in incident.symptoms],
                    failing_lanes=owners)


def _lane(services: Sequence[str]) -> str:
    return ALL_SERVICES if GLOBAL in services else services[0]


def _paths(advice: Advice, graph: DependencyGraph | None) -> tuple[str, list[Suspect]]:
    """The SVG of the paths from each failing node to each top suspect's node, and the top
    suspects no failing node reaches (global changes, unknown or unrelated nodes)."""
    incident = advice.ranking.incident
    top = [s for s in advice.ranking.suspects if not s.after_onset][:PATH_SUSPECTS]
    if graph is None:
        return "", top
    failing: list[str] = []
    for node in [incident.target, *(s.node for s in incident.symptoms)]:
        try:
            failing.append(graph.resolve(node))
        except AdvisorError:
            continue
    paths: list[tuple[str, ...]] = []
    ranks: dict[str, list[int]] = {}
    off: list[Suspect] = []
    for s in top:
        found = False
        for node in s.change.services:
            for f in failing:
                reach = graph.reach_from(f).get(node)
                if reach is not None:
                    paths.append(reach.path)
                    ranks.setdefault(node, []).append(s.rank)
                    found = True
        if not found:
            off.append(s)
    if not paths:
        return "", off
    return paths_svg(paths, failing=failing, suspects=ranks), off


def age(started: datetime, now: datetime | None = None) -> str:
    """``12 min ago``: how long ago an incident began."""
    delta = (now or datetime.now(UTC)) - started
    return "in the future" if delta < timedelta(0) else f"{humanize(delta)} ago"


def relative(when: datetime, onset: datetime) -> str:
    """``6 min before onset``: a time said against the incident's onset."""
    delta = when - onset
    if not delta:
        return "at onset"
    return f"{humanize(delta)} {'after' if delta > timedelta(0) else 'before'} onset"
