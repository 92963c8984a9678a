"""The value a Slack verdict button carries, shared by the message that shows the buttons and
the interactivity endpoint that receives the click: one encoding, in one place.

A button's ``action_id`` is ``verdict``; its ``value`` is compact JSON
``{"i": incident id, "c": change id or null, "v": culprit | not_culprit | no_change}`` (Slack
allows 2,000 characters; ids are at most 512).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import InvalidInput
from ..verdicts import VerdictKind

ACTION_ID = "verdict"


@dataclass(frozen=True, slots=True)
class VerdictAction:
    incident: str
    change: str | None
    verdict: VerdictKind


def encode(action: VerdictAction) -> str:
    return json.dumps({"i": action.incident, "c": action.change, "v": action.verdict.value},
                      separators=(",", ":"))


def decode(value: object) -> VerdictAction:
    """The action a button value names; InvalidInput for anything else (a forged value)."""
    try:
        data = json.loads(value) if isinstance(value, str) else None
        verdict = VerdictKind(data["v"]) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError):
        verdict = None
    if verdict is None or not isinstance(data, dict) or not isinstance(data.get("i"), str) \
            or not (data.get("c") is None or isinstance(data.get("c"), str)):
        raise InvalidInput("actions[0].value", value,
                           'a verdict button value {"i": incident, "c": change|null, "v": ...}')
    return VerdictAction(data["i"], data.get("c"), verdict)
