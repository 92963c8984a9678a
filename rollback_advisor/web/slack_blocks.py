"""Block Kit for advice: what the slash command answers, the API posts to a webhook and the
incident messages carry (``incident_message``). No Flask here, so the incident hooks can
render without importing the blueprint (and the services it imports).
"""

from __future__ import annotations

from typing import Any

from ..advisor import Advice
from ..models import Decision
from ..render import (
    POSTED,
    _escape,
    _why,
    advice_slack,
    headline,
    slack_incident_lines,
    slack_suspect_parts,
)

_SECTION_LIMIT = 3000  # Block Kit's limit on a section's text


def _section(text: str) -> dict[str, Any]:
    if len(text) > _SECTION_LIMIT:
        text = text[:_SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def blocks_for(advice: Advice, limit: int) -> list[dict[str, Any]]:
    """Block Kit: headline, incident and why, one section per suspect, the no-change belief."""
    rec, ranking = advice.recommendation, advice.ranking
    inc = ranking.incident
    head = headline(advice)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150], "emoji": True}},
        _section("\n".join(slack_incident_lines(inc, POSTED)) + "\n*Why:* "
                 + _escape(rec.reasons[0] if rec.reasons else "-")),
    ]
    if rec.decision is Decision.INVESTIGATE and rec.next_questions:
        blocks.append(_section("*Check next:*\n" + "\n".join(
            f"• {_escape(q)}" for q in rec.next_questions[:6])))
    if rec.also_affected:
        blocks.append(_section("*A rollback also undoes:* " + ", ".join(
            f"`{_escape(s.change.id)}`" for s in rec.also_affected)))
    blocks.append({"type": "divider"})
    for s in ranking.suspects[:limit]:
        title, after, when = slack_suspect_parts(s, inc.started_at, POSTED)
        blocks.append(_section(
            f"*{s.rank}. {title}* {s.probability:.0%} `{_escape(s.change.id)}`{after}\n"
            f"{when}\n_{_escape(_why(s)) or '-'}_"))
    if not ranking.suspects:
        blocks.append(_section("_no changes in the window_"))
    blocks.append({"type": "context", "elements": [{
        "type": "mrkdwn",
        "text": f"no-change hypothesis {ranking.no_change_probability:.0%} · "
                f"{len(ranking.suspects)} candidates"
                + (f" · {_escape(ranking.no_change_reason)}" if ranking.no_change_reason
                   else "")}]})
    if advice.sources:  # how fresh each connector source was (the pull before advice)
        blocks.append({"type": "context", "elements": [{
            "type": "mrkdwn", "text": _escape(" · ".join(s.line for s in advice.sources))}]})
    return blocks


def block_kit(advice: Advice, limit: int) -> dict[str, Any]:
    """What the service posts: blocks, and the escaped mrkdwn ``text`` that notifications and
    old clients show (never the paste form: its bare ``<>&`` would be read as markup)."""
    return {"text": advice_slack(advice, limit, POSTED), "blocks": blocks_for(advice, limit)}
