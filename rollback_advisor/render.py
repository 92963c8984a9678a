"""Text, Slack and JSON forms of the answers, shared by the CLI and the web service.

The Slack form puts the decision and its confidence first, then what/where/when/why for each
top suspect, one screen at most. It comes in two dialects (issue #10): what a person pastes
into the message box (``--format slack``, ``format=slack``), where only ``*bold*``, ``_italic_``,
`` `code` ``, emoji codes and bare links render and ``&gt;``, ``<url|text>`` or ``<!date^...>``
would show literally; and what the service posts through the API (Block Kit and its ``text``
fallback), where user-supplied ``<>&`` must be escaped and links and date tokens render.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from .advisor import Advice
from .models import Change, Decision, Incident, Suspect, dumps, scope_text
from .timeutil import format_utc, humanize

_HEADLINE = {Decision.ROLLBACK: "ROLL BACK", Decision.FORWARD_FIX: "FIX FORWARD",
             Decision.INVESTIGATE: "INVESTIGATE"}
_EMOJI = {Decision.ROLLBACK: ":rewind:", Decision.FORWARD_FIX: ":hammer_and_wrench:",
          Decision.INVESTIGATE: ":mag:"}


def headline(advice: Advice) -> str:
    rec = advice.recommendation
    head = f"{_HEADLINE[rec.decision]} ({rec.confidence:.0%} confidence)"
    if rec.decision is Decision.ROLLBACK and rec.rollback_target:
        head += f": {rec.rollback_target}"
    elif rec.decision is Decision.FORWARD_FIX and rec.suspect:
        head += f": {rec.suspect.change.id} cannot be undone"
    return head


def _when(change: Change, onset: datetime) -> str:
    delta = change.at - onset
    side = "after" if delta.total_seconds() > 0 else "before"
    return f"{humanize(delta)} {side} onset ({format_utc(change.at)})"


def _why(suspect: Suspect) -> str:
    """Every reason the engine gave, in its order, but the time (the "when" line states it) and
    the base risk of the kind (the title names the kind)."""
    return "; ".join(r.text for r in suspect.reasons if r.factor not in ("time", "prior"))


def symptom_whens(incident: Incident) -> list[tuple[str, str]]:
    """Each other failing node with its onset said against the incident's own."""
    out = []
    for s in incident.symptoms:
        delta = s.started_at - incident.started_at
        if delta:
            side = "after" if delta.total_seconds() > 0 else "before"
            out.append((s.node, f"since {format_utc(s.started_at)}, {humanize(delta)} {side} "
                                "onset"))
        else:
            out.append((s.node, "since onset"))
    return out


def incident_text(incident: Incident) -> list[str]:
    """The incident header of the terminal form: target, onset, symptoms, scope."""
    lines = [f"incident: {incident.target} since {format_utc(incident.started_at)} "
             f"({incident.environment})"]
    if incident.symptoms:
        lines.append("also failing: " + "; ".join(f"{node} {when}"
                                                  for node, when in symptom_whens(incident)))
    if incident.scope:
        lines.append(f"failing in: {scope_text(incident.scope)}")
    return lines


def advice_text(advice: Advice, max_suspects: int = 5) -> str:
    """The terminal form: headline, reasons, then a numbered suspect list."""
    rec, ranking = advice.recommendation, advice.ranking
    inc = ranking.incident
    lines = [headline(advice), *incident_text(inc), ""]
    lines += [f"  - {r}" for r in rec.reasons]
    if rec.also_affected:
        lines += ["", "a rollback also affects:"] + [f"  - {s.change.id}: {s.why}"
                                                    for s in rec.also_affected]
    if rec.next_questions:
        lines += ["", "check next:"] + [f"  - {q}" for q in rec.next_questions]
    lines += ["", suspects_text(advice, max_suspects)]
    if ranking.warnings:
        lines += ["", "warnings:"] + [f"  ! {w}" for w in ranking.warnings]
    return "\n".join(lines)


def suspects_report(advice: Advice, max_suspects: int = 5) -> str:
    """The terminal form of the suspect list: the incident header, then the suspects."""
    return "\n".join([*incident_text(advice.ranking.incident), "",
                      suspects_text(advice, max_suspects), *sources_text(advice)])


def sources_text(advice: Advice) -> list[str]:
    """How fresh each connector source was ("github: synced 12 s ago"); none without any."""
    if not advice.sources:
        return []
    return ["", "sources:", *(f"  {s.line}" for s in advice.sources)]


def suspects_text(advice: Advice, max_suspects: int = 5) -> str:
    ranking = advice.ranking
    shown = ranking.suspects[:max_suspects]
    because = [f"     no change: {ranking.no_change_reason}"] if ranking.no_change_reason else []
    if not shown:
        return "\n".join([f"no changes in the {humanize(ranking.window)} before onset "
                          f"(no-change hypothesis {ranking.no_change_probability:.0%})",
                          *because])
    lines = [f"suspects (no-change hypothesis {ranking.no_change_probability:.0%}; "
             f"{ranking.candidates} candidates):", *because]
    for s in shown:
        c = s.change
        mark = "  [after onset]" if s.after_onset else ""
        lines.append(f"{s.rank:>3}. {s.probability:>4.0%}  {c.id}  {c.label}{mark}")
        lines.append(f"        when: {_when(c, ranking.incident.started_at)}")
        lines.append(f"        why:  {_why(s)}")
        extra = " · ".join(x for x in (c.summary, c.author and f"by {c.author}", c.url) if x)
        if extra:
            lines.append(f"        {extra}")
    hidden = ranking.candidates - len(shown)
    if hidden > 0:
        lines.append(f"     ... and {hidden} more (--limit to show them)")
    return "\n".join(lines)


class SlackDialect:
    """How Slack text is written for one destination: pasted by a person, or posted by us."""

    def __init__(self, posted: bool) -> None:
        self.posted = posted

    def text(self, text: str) -> str:
        """User-supplied text: escaped for the API; as is for the composer, which escapes it."""
        return _escape(text) if self.posted else text

    def code(self, text: str) -> str:
        # a backtick in the text would end the code span early
        return "`" + self.text(text.replace("`", "'")) + "`"

    def link(self, url: str | None, title: str) -> tuple[str, str]:
        """(title, tail): the API links the title; pasted, the bare URL goes after the line."""
        if not url:
            return title, ""
        return (f"<{url}|{title}>", "") if self.posted else (title, f" · {url}")

    def time(self, dt: datetime) -> str:
        if self.posted:  # rendered in each reader's own time zone, the UTC text as fallback
            return (f"<!date^{int(dt.timestamp())}^{{time}} {{date_short}}|{format_utc(dt)}> "
                    f"({dt.strftime('%H:%M')} UTC)")
        return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


PASTE = SlackDialect(posted=False)
POSTED = SlackDialect(posted=True)


def advice_slack(advice: Advice, max_suspects: int = 5,
                 dialect: SlackDialect = PASTE) -> str:
    """Slack mrkdwn: decision first, then the top suspects; fits one screen. Paste-ready by
    default; ``POSTED`` gives the escaped form for the API's ``text``."""
    d = dialect
    rec, ranking = advice.recommendation, advice.ranking
    inc = ranking.incident
    lines = [f"{_EMOJI[rec.decision]} *{d.text(headline(advice))}*",
             *slack_incident_lines(inc, d)]
    lines.append("*Why:* " + d.text(rec.reasons[0]))
    if rec.decision is Decision.FORWARD_FIX and rec.reasons:
        lines.append("*Blocked:* " + d.text(rec.reasons[-1]))
    if rec.also_affected:
        lines.append("*A rollback also undoes:* " + ", ".join(
            d.code(s.change.id) for s in rec.also_affected))
    for q in rec.next_questions[:4]:
        lines.append(f"• {d.text(q)}")
    lines.append(f"*Top suspects* (no change: {ranking.no_change_probability:.0%})")
    if ranking.no_change_reason:
        lines.append(f"      _no change: {d.text(ranking.no_change_reason)}_")
    for s in ranking.suspects[:max_suspects]:
        title, after, when = slack_suspect_parts(s, inc.started_at, d)
        lines.append(f"{s.rank}. *{title}* {s.probability:.0%} {d.code(s.change.id)}{after}")
        lines.append(f"      {when}")
        lines.append(f"      _{d.text(_why(s))}_")
    if not ranking.suspects:
        lines.append("_no changes in the window_")
    return "\n".join(lines)


def slack_incident_lines(incident: Incident, dialect: SlackDialect) -> list[str]:
    """The incident header in mrkdwn: target and onset, other failing nodes, scope."""
    d = dialect
    lines = [f"*Incident:* {d.code(incident.target)} since {d.time(incident.started_at)} "
             f"({d.text(incident.environment)})"]
    if incident.symptoms:
        lines.append("*Also failing:* " + "; ".join(
            f"{d.code(node)} {d.text(when)}" for node, when in symptom_whens(incident)))
    if incident.scope:
        lines.append(f"*Failing in:* {d.text(scope_text(incident.scope))}")
    return lines


def slack_suspect_parts(suspect: Suspect, onset: datetime,
                        dialect: SlackDialect = POSTED) -> tuple[str, str, str]:
    """A suspect's mrkdwn title (linked when it has a url), after-onset mark, and when/who line:
    shared by the pasteable text and the Block Kit answer so both read the same."""
    d = dialect
    c = suspect.change
    title, tail = d.link(c.url, d.text(c.label))
    after = " _after onset_" if suspect.after_onset else ""
    who = f" by {d.text(c.author)}" if c.author else ""
    return title, after, f"{d.text(_when(c, onset))}{who}{tail}"


def advice_json(advice: Advice) -> str:
    return dumps(advice.to_dict())


def changes_text(changes: Sequence[Change]) -> str:
    if not changes:
        return "no changes"
    rows = [(format_utc(c.at), c.kind.value, ",".join(c.services), c.status.value, c.id,
             c.version or "") for c in changes]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(v.ljust(widths[i]) if i < 5 else v for i, v in enumerate(r))
                     .rstrip() for r in rows)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
