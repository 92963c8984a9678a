"""Blueprint ``slack``: the ``/rollback-advisor <target> [time]`` slash command.

Requests are verified with the app's signing secret (``v0=`` HMAC-SHA256 of
``v0:{timestamp}:{body}``) and refused outside a 5-minute window against replays
(https://api.slack.com/authentication/verifying-requests-from-slack). The answer is Block Kit
blocks plus the mrkdwn ``text`` fallback that notifications and old clients show.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import requests
from flask import Blueprint, request

from ..advisor import Advice
from ..config import Settings
from ..errors import AdvisorError, InvalidInput
from ..models import Decision
from ..render import _escape, _why, advice_slack, headline, slack_suspect_parts
from ..timeutil import parse_when, utc_now
from .errors import NotConfigured, Unauthorized
from .services import services

bp = Blueprint("slack", __name__, url_prefix="/slack")

MAX_AGE_SECONDS = 300
_SECTION_LIMIT = 3000  # Block Kit's limit on a section's text


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode("ascii", "replace") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def verify_slack(secret: str, headers: Any, body: bytes, now: float) -> None:
    """Raise Unauthorized unless the request is signed by Slack within the 5-minute window."""
    stamp = headers.get("X-Slack-Request-Timestamp", "")
    given = headers.get("X-Slack-Signature", "")
    try:
        age = abs(now - int(stamp))
    except ValueError:
        raise Unauthorized("X-Slack-Request-Timestamp is missing or not a number") from None
    if age > MAX_AGE_SECONDS:
        raise Unauthorized("the Slack request is older than 5 minutes (replay or clock skew)")
    if not hmac.compare_digest(given.encode("utf-8", "replace"),
                               slack_signature(secret, stamp, body).encode("ascii")):
        raise Unauthorized("X-Slack-Signature is missing or does not match the signing secret")


def split_command(text: str) -> tuple[str, str]:
    """``frontend:POST /cart 15m ago`` -> (target, time); the time is optional and last."""
    words = text.split()
    if not words:
        raise InvalidInput("text", text, "usage: /rollback-advisor <target> [time], e.g. "
                           "/rollback-advisor checkout -15m")
    now = utc_now()
    for n in (2, 1):  # "2h ago" is two words
        if len(words) > n:
            tail = " ".join(words[-n:])
            try:
                parse_when(tail, now)
            except InvalidInput:
                continue
            return " ".join(words[:-n]), tail
    return " ".join(words), "now"


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
        _section(f"*Incident:* `{_escape(inc.target)}` since {inc.started_at:%Y-%m-%d %H:%M} "
                 f"UTC ({_escape(inc.environment)})\n*Why:* "
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
        title, after, when = slack_suspect_parts(s, inc.started_at)
        blocks.append(_section(
            f"*{s.rank}. {title}* {s.probability:.0%} `{_escape(s.change.id)}`{after}\n"
            f"{when}\n_{_escape(_why(s)) or '-'}_"))
    if not ranking.suspects:
        blocks.append(_section("_no changes in the window_"))
    blocks.append({"type": "context", "elements": [{
        "type": "mrkdwn",
        "text": f"no-change hypothesis {ranking.no_change_probability:.0%} · "
                f"{len(ranking.suspects)} candidates"}]})
    return blocks


def post_to_webhook(settings: Settings, advice: Advice, limit: int) -> None:
    """Post the suspect list to the configured incoming webhook (never logs its URL)."""
    url = settings.server.slack_webhook_url
    if not url:
        raise InvalidInput("notify_slack", True, "false: this server has no "
                           "server.slack_webhook_url to post to")
    payload: dict[str, Any] = {"text": advice_slack(advice, limit),
                               "blocks": blocks_for(advice, limit)}
    try:
        response = requests.post(url, json=payload, timeout=5)
    except requests.RequestException as exc:
        raise SlackUnreachable(f"posting to Slack failed: {type(exc).__name__}") from None
    if response.status_code >= 300:
        raise SlackUnreachable(f"Slack answered {response.status_code} to the webhook post")


class SlackUnreachable(AdvisorError):
    """Slack's incoming webhook failed; the advice itself was computed."""

    status_code = 502


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


@bp.post("/commands")
def command() -> Any:
    svc = services()
    secret = svc.settings.server.slack_signing_secret
    if not secret:
        raise NotConfigured("the Slack command is off: this server has no "
                            "server.slack_signing_secret")
    body = request.get_data(cache=True)
    verify_slack(secret, request.headers, body, time.time())
    text = request.form.get("text", "")
    limit = svc.settings.output.max_suspects
    try:
        target, when = split_command(text)
        advice = svc.advise(target, parse_when(when, utc_now(), "at"))
    except AdvisorError as exc:
        # Slack shows only 200 answers to the user: errors go back as an ephemeral message.
        return _ephemeral(f":warning: {exc.message}")
    return {"response_type": "in_channel", "text": advice_slack(advice, limit),
            "blocks": blocks_for(advice, limit)}
