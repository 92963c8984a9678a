"""The recommendation policy (DESIGN §5): rollback, forward_fix or investigate, and why.

Pure: it reads a Ranking, the graph (to find a service's datastores) and, when the suspect does
not say what was live before it, the change that preceded it. Thresholds come from the config.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .graph import DependencyGraph
from .models import (
    Change,
    ChangeKind,
    Decision,
    Ranking,
    Recommendation,
    StackedChange,
    Suspect,
)
from .sqlrisk import change_text, destructive_operations
from .timeutil import format_utc, humanize


@dataclass(frozen=True)
class PolicySettings:
    """Thresholds of the decision; every one is in config.example.yaml under ``policy:``.

    The threshold to act is what acting costs against what it saves (act when
    p x benefit > (1 - p) x cost, i.e. p > cost / (cost + benefit)): a quick rollback of one
    service to a known version is cheap to do and cheap to undo if wrong, so it is worth doing
    on a weaker lead than a fix forward; one that drags coupled migrations, many services or a
    stack of later changes costs more, so it needs a stronger one.
    """

    min_confidence: float = 0.5  # forward fixes, and rollbacks neither quick nor heavy
    quick_rollback_confidence: float = 0.3
    heavy_rollback_confidence: float = 0.7
    coupling_window: timedelta = timedelta(minutes=30)
    max_questions: int = 6


_REVERTIBLE_WITHOUT_VERSION = (ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG)
# A security update or patch, or a change naming a CVE: undoing it re-opens a vulnerability.
_SECURITY = re.compile(r"\bsecurity\s+(?:update|patch|fix|release)|\bCVE-\d{4}-\d{4,}", re.I)


def recommend(ranking: Ranking, graph: DependencyGraph, *, previous: Change | None = None,
              settings: PolicySettings | None = None) -> Recommendation:
    """Decide what to do about the incident ranked in ``ranking``.

    The action the top suspect calls for (rollback or forward fix) is worked out first, since
    its cost sets the confidence needed to take it; below that, investigate. ``previous`` is
    the change that preceded the top suspect on its service (from the store), used as the
    rollback target when the suspect has no ``previous_version``.
    """
    settings = settings or PolicySettings()
    live = [s for s in ranking.suspects if not s.after_onset]
    top = live[0] if live else None
    if top is None:
        return _investigate(ranking, graph, top, settings, "")
    reasons = [f"{top.change.id} ({top.change.label}) explains the incident with probability "
               f"{top.probability:.0%}"] + [r.text for r in top.reasons if r.factor != "prior"]
    if len(live) > 1:
        reasons.append(f"next suspect {live[1].change.id} at {live[1].probability:.0%}; "
                       f"no-change hypothesis at {ranking.no_change_probability:.0%}")
    coupled = _coupled_migrations(top.change, ranking, graph, settings)
    stacked = _stacked(top.change, ranking) + [
        StackedChange(m, f"migration coupled to it ({_gap(top.change, m)}); roll it back "
                         "with the code") for m in coupled if not _irreversible_why(m)]
    blocker = _irreversible_why(top.change) or next(
        (f"coupled migration {m.id} cannot be undone ({_irreversible_why(m)}): the previous code "
         "would meet the new schema" for m in coupled if _irreversible_why(m)), None)
    target = _rollback_target(top.change, previous)
    if blocker is None and target is None:
        blocker = ("the version live before it is unknown, so there is no safe rollback target: "
                   "find it in the deploy history or fix forward")
    if blocker is not None:
        needed, tradeoff = settings.min_confidence, "a fix forward"
    else:
        needed, tradeoff = _rollback_cost(top.change, stacked, coupled,
                                          ranking.incident.started_at, settings)
    if top.probability < needed:
        return _investigate(ranking, graph, top, settings,
                            f"{tradeoff} is worth doing at {needed:.0%} or more")
    if ranking.no_change_probability >= top.probability:
        return _investigate(ranking, graph, top, settings, "it must also be likelier than "
                            f"no change at all ({ranking.no_change_probability:.0%})")
    reasons.append(f"{tradeoff}: worth doing at {needed:.0%} or more")
    if blocker is not None:
        return Recommendation(Decision.FORWARD_FIX, top.probability, top, None,
                              tuple(reasons + [f"cannot roll back: {blocker}"]), tuple(stacked))
    reasons.append(f"roll back to {target}")
    return Recommendation(Decision.ROLLBACK, top.probability, top, target, tuple(reasons),
                          tuple(stacked))


def _rollback_cost(change: Change, stacked: Sequence[StackedChange], coupled: Sequence[Change],
                   onset: datetime, settings: PolicySettings) -> tuple[float, str]:
    """The confidence a rollback needs, and the trade-off in words (DESIGN §5)."""
    drags = []
    if coupled:
        drags.append(f"{len(coupled)} coupled migration{'s' if len(coupled) > 1 else ''}")
    single_revert = change.kind in _REVERTIBLE_WITHOUT_VERSION  # one revert, however wide
    if not single_revert and (change.is_global or len(change.services) >= 3):
        drags.append("every service" if change.is_global else f"{len(change.services)} services")
    later = [s for s in stacked if s.change.kind is not ChangeKind.MIGRATION]
    # what was live at the onset: changes made after it are the responders' own, known to them
    unseen = [s for s in later if s.change.effective_start <= onset]
    if len(unseen) >= 2:
        drags.append(f"{len(unseen)} later changes stacked on it before the onset")
    if drags:
        return (settings.heavy_rollback_confidence,
                f"a heavy rollback (it drags {', '.join(drags)})")
    if (single_revert or len(change.services) == 1) and not later:
        what = ("one revert of the " + change.kind.value.replace("_", " ") if single_revert
                else "one service")
        return (settings.quick_rollback_confidence,
                f"a quick rollback ({what} to a known state, nothing stacked or coupled; "
                "cheap to undo if the lead is wrong)")
    return settings.min_confidence, "a rollback that also touches " + (
        f"{later[0].change.id}" if later else ", ".join(change.services))


def _irreversible_why(change: Change) -> str | None:
    """Why rolling this change back is impossible or unsafe, or None when it can be undone."""
    if change.kind is ChangeKind.PROVIDER:
        return "a provider's change is not ours to roll back; mitigate around it (fail over, " \
               "pin the API version, degrade the feature)"
    if change.kind is ChangeKind.CERTIFICATE:
        return "an expired certificate cannot be un-expired; renew and deploy the certificate"
    if change.kind is ChangeKind.MIGRATION:
        ops = destructive_operations(change_text(change.summary, change.details))
        if ops:
            return f"the migration {', '.join(ops)}, which loses data on the way back"
    if change.details.get("security") is True or _SECURITY.search(change.summary or ""):
        return ("it is a security update: rolling it back re-opens what it closed; fix forward "
                "(a patched build, or pin the previous package only where it is safe)")
    if change.kind is ChangeKind.ROLLBACK:
        return ("it is itself a rollback: undoing it brings back the version someone already "
                "rolled back from")
    if change.details.get("data_format_changed"):
        return "data has already been written in the new format"
    if change.reversible is False:
        why = change.details.get("irreversible_reason")
        return str(why) if why else "marked irreversible by its source"
    return None


def _rollback_target(change: Change, previous: Change | None) -> str | None:
    where = "every service" if change.is_global else ", ".join(change.services)
    if change.previous_version:
        return f"{where} {change.previous_version}"
    if previous is not None and previous.version:
        return f"{where} {previous.version} (from {previous.id})"
    if change.kind in _REVERTIBLE_WITHOUT_VERSION:
        return f"the {change.kind.value.replace('_', ' ')} as it was before {change.id}"
    return None


def _stacked(change: Change, ranking: Ranking) -> list[StackedChange]:
    """Later changes on the same services, which a rollback would undo or conflict with."""
    out = []
    for s in ranking.suspects:
        other = s.change
        if other.id == change.id or other.at <= change.at or other.kind is ChangeKind.MIGRATION:
            continue
        shared = set(other.services) & set(change.services)
        if shared and other.kind in (ChangeKind.DEPLOY, ChangeKind.ROLLBACK, ChangeKind.CONFIG,
                                     ChangeKind.FEATURE_FLAG):
            when = "after onset" if s.after_onset else "before onset"
            out.append(StackedChange(other, f"{other.kind.value} of {', '.join(sorted(shared))} "
                                            f"{_gap(change, other)}, {when}: a rollback "
                                            "undoes it too"))
    return out


def _coupled_migrations(change: Change, ranking: Ranking, graph: DependencyGraph,
                        settings: PolicySettings) -> list[Change]:
    """Migrations of the suspect's service or its datastores close to it in time."""
    if change.kind not in (ChangeKind.DEPLOY, ChangeKind.ROLLBACK):
        return []
    nodes = set(change.services)
    for service in change.services:
        if service in graph:
            nodes.update(d for d in graph.dependencies(service)
                         if graph.node_type(d) == "datastore")
    return [s.change for s in ranking.suspects
            if s.change.kind is ChangeKind.MIGRATION and s.change.id != change.id
            and nodes & set(s.change.services)
            and abs(s.change.at - change.at) <= settings.coupling_window]


def _gap(a: Change, b: Change) -> str:
    delta = b.at - a.at
    return f"{humanize(delta)} {'after' if delta.total_seconds() >= 0 else 'before'} it"


def _investigate(ranking: Ranking, graph: DependencyGraph, top: Suspect | None,
                 settings: PolicySettings, tradeoff: str) -> Recommendation:
    confidence = 1.0 - (top.probability if top else 0.0)
    reasons = [_why_no_lead(ranking, top)]
    if ranking.no_change_reason:
        reasons.append(f"no change: {ranking.no_change_reason}")
    if top is not None:
        reasons.append(f"best lead {top.change.id} ({top.change.label}) at {top.probability:.0%}"
                       f", below what acting on it needs: {tradeoff}")
    return Recommendation(Decision.INVESTIGATE, confidence, top, None, tuple(reasons),
                          (), tuple(_questions(ranking, graph)[: settings.max_questions]))


def _why_no_lead(ranking: Ranking, top: Suspect | None) -> str:
    """Where the probability went when no change is worth acting on: to "no change", or spread
    over many weak leads (a busy window), which calls for other questions than the first."""
    no_change = ranking.no_change_probability
    if top is None or no_change >= top.probability:
        return f"no change explains the incident best: no-change hypothesis at {no_change:.0%}"
    rest = max(0.0, 1.0 - no_change - top.probability)
    return (f"no suspect stands out: the best lead holds {top.probability:.0%}, the other "
            f"{ranking.candidates - 1:,} changes considered {rest:.0%} between them, the "
            f"no-change hypothesis {no_change:.0%}")


def _questions(ranking: Ranking, graph: DependencyGraph) -> list[str]:
    """What to check next: the seed questions, made specific to what is near the target."""
    incident = ranking.incident
    target = graph.resolve(incident.target)
    reach = graph.reach_from(target)
    live: Sequence[Suspect] = [s for s in ranking.suspects if not s.after_onset]
    out: list[str] = []
    for s in live:
        if s.change.kind is ChangeKind.MIGRATION and s.hops is not None:
            out.append(f"Heavy migration? {s.change.id} on {', '.join(s.change.services)} "
                       f"{s.reasons[1].text}: check for table rewrites, locks or a backfill "
                       "loading the database")
            break
    providers = sorted(n for n in reach if graph.node_type(n) == "provider")
    if providers:
        out.append(f"Provider schema or behaviour change? The target depends on "
                   f"{', '.join(providers)}: check their status pages and changelogs")
    out.append(f"Certificate expiry? Check the TLS certificates on the path from {target} "
               "(its own and its dependencies')")
    out.append(f"A change outside the {humanize(ranking.window)} window or never recorded "
               f"(manual change, cron job, data import)? Widen the window with --window")
    out.append(f"Load rather than change? Compare traffic and saturation at "
               f"{format_utc(incident.started_at)} with the same time last week")
    weak = [s for s in live[:3] if s.hops is not None]
    if weak:
        out.insert(0, "Weak leads on the path: " + "; ".join(
            f"{s.change.id} ({s.reasons[1].text}, {s.probability:.0%})" for s in weak))
    return out
