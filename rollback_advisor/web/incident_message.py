"""The Slack messages of an incident: its advice with verdict buttons, a verdict, and the first
message updated to show the verdicts given (issue #8).

Every message is ``{"text", "blocks"}``: the blocks are ``slack_blocks.block_kit``'s (decision and
confidence, the top suspects with their reasons) plus the verdict buttons; ``text`` is the
escaped mrkdwn (``render.POSTED``) that notifications and old clients show. Each button sits in
an actions block of its own: Slack wants a button's ``action_id`` unique within its block, and
every verdict button's is ``verdict`` (``verdict_actions``), its ``value`` saying what it means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..advisor import Advice
from ..render import _escape
from ..store.incidents import AdviceEntry, IncidentRecord
from ..verdicts import Verdict, VerdictKind
from .slack_blocks import block_kit
from .verdict_actions import ACTION_ID, VerdictAction, encode

BUTTON_SUSPECTS = 3  # suspects that get culprit / not-it buttons
MAX_BLOCKS = 50  # Slack's limit per message
_TRIGGERS = {"opened": "opened", "symptom_added": "symptom added"}
_SAID = {VerdictKind.CULPRIT: "is the culprit", VerdictKind.NOT_CULPRIT: "is not it",
         VerdictKind.NO_CHANGE: "no change caused this"}
_MARK = {VerdictKind.CULPRIT: ":white_check_mark:", VerdictKind.NOT_CULPRIT: ":x:",
         VerdictKind.NO_CHANGE: ":no_entry_sign:"}


def incident_ref(incident: IncidentRecord) -> str:
    """``Incident #12: checkout 5xx``, escaped for posted mrkdwn."""
    title = f": {_escape(incident.title)}" if incident.title else ""
    return f"Incident #{incident.id}{title}"


def advice_message(incident: IncidentRecord, entry: AdviceEntry, limit: int
                   ) -> dict[str, Any]:
    """The message for one advice entry: the advice and its buttons, or why there is none."""
    why = _TRIGGERS.get(entry.trigger, entry.trigger.replace("_", " "))
    context = {"type": "context", "elements": [{
        "type": "mrkdwn", "text": f"*{incident_ref(incident)}* · {_escape(why)}"[:3000]}]}
    advice = entry.live
    if not isinstance(advice, Advice):
        text = (f"{incident_ref(incident)}: no advice ({_escape(entry.error or 'not computed')})")
        return {"text": text, "blocks": [context, {"type": "section", "text": {
            "type": "mrkdwn", "text": text[:3000]}}]}
    body = block_kit(advice, limit)
    buttons = verdict_buttons(str(incident.id), advice)
    # Slack refuses a message of more than 50 blocks (a large output.max_suspects): the
    # suspects past what fits are cut, the buttons kept
    shown = [context, *body["blocks"]][:MAX_BLOCKS - len(buttons)]
    return {"text": f"*{incident_ref(incident)}*\n{body['text']}", "blocks": [*shown, *buttons]}


def verdict_buttons(incident: str, advice: Advice) -> list[dict[str, Any]]:
    """Culprit / not it for the top suspects, and "no change caused this"."""
    blocks: list[dict[str, Any]] = []
    for s in advice.ranking.suspects[:BUTTON_SUSPECTS]:
        for kind, label, style in ((VerdictKind.CULPRIT, "culprit", "danger"),
                                   (VerdictKind.NOT_CULPRIT, "not it", None)):
            blocks.append(_button(f"#{s.rank} {label}: {s.change.id}",
                                  VerdictAction(incident, s.change.id, kind), style,
                                  f"verdict-{s.rank}-{kind.value}"))
    blocks.append(_button("no change caused this",
                          VerdictAction(incident, None, VerdictKind.NO_CHANGE), None,
                          "verdict-no-change"))
    return blocks


def _button(text: str, action: VerdictAction, style: str | None, block_id: str
            ) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": ACTION_ID, "value": encode(action),
                              "text": {"type": "plain_text", "text": _cut(text, 75)}}
    if style:
        button["style"] = style
    return {"type": "actions", "block_id": block_id[:255], "elements": [button]}


def verdict_line(verdict: Verdict) -> str:
    """``:white_check_mark: `d-1` is the culprit (alice)``, escaped."""
    what = f"`{_escape(verdict.change)}` " if verdict.change else ""
    note = f": _{_escape(verdict.note)}_" if verdict.note else ""
    return f"{_MARK[verdict.verdict]} {what}{_SAID[verdict.verdict]} ({_escape(verdict.by)}){note}"


def verdict_message(incident: IncidentRecord, verdict: Verdict) -> dict[str, Any]:
    """A verdict as a message of its own (webhook mode, or no first message to update)."""
    text = f"*Verdict on {incident_ref(incident)}:* {verdict_line(verdict)}"[:3000]
    return {"text": text, "blocks": [{"type": "section",
                                      "text": {"type": "mrkdwn", "text": text}}]}


def with_verdicts(first: dict[str, Any], verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """The incident's first message as posted, with the verdicts given so far below it."""
    if not verdicts:
        return first
    lines = "\n".join(verdict_line(v) for v in verdicts)
    section = {"type": "section", "text": {"type": "mrkdwn",
                                           "text": _cut(f"*Verdicts:*\n{lines}", 3000)}}
    return {"text": f"{first['text']}\n*Verdicts:*\n{lines}",
            "blocks": [*first["blocks"][:MAX_BLOCKS - 1], section]}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
