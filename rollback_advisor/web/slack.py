"""Blueprint ``slack``: the ``/rollback-advisor <target> [time] [key=value ...]`` slash command,
and the interactivity endpoint that receives the verdict buttons' clicks.

Requests are verified with the app's signing secret (``v0=`` HMAC-SHA256 of
``v0:{timestamp}:{body}``) and refused outside a 5-minute window against replays
(https://api.slack.com/authentication/verifying-requests-from-slack). The answer is Block Kit
blocks plus the mrkdwn ``text`` fallback that notifications and old clients show.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import shlex
import time
from typing import Any

import requests
from flask import Blueprint, request

from ..advisor import Advice
from ..config import Settings
from ..errors import AdvisorError, InvalidInput
from ..incident_input import scope_from_texts, split_symptom
from ..incidents import incident_number
from ..models import scope_to_dict
from ..timeutil import parse_when, utc_now
from .errors import NotConfigured, Unauthorized
from .services import services
from .slack_blocks import block_kit
from .verdict_actions import ACTION_ID, decode

log = logging.getLogger("rollback_advisor.web.slack")

bp = Blueprint("slack", __name__, url_prefix="/slack")

MAX_AGE_SECONDS = 300


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


USAGE = ("usage: /rollback-advisor <target> [time] [symptom=NODE[@TIME] ...] "
         "[scope=LABEL=VALUE ...] [window=24h] [env=production], e.g. /rollback-advisor "
         "checkout -10m symptom=cart@-12m symptom=payment scope=region=us-east-1")
_OPTION = re.compile(r"^(?P<key>[A-Za-z_]+)=(?P<value>.*)$", re.DOTALL)
_KEYS = ("at", "symptom", "scope", "window", "env", "environment")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_TIMELIKE = re.compile(r"^(-\s*\d|\d{4}-\d\d-\d\d[Tt ]|.*\bago$)")


def split_command(text: str) -> tuple[str, str]:
    """``frontend:POST /cart 15m ago`` -> (target, time); the time is optional and last."""
    words = text.split()
    if not words:
        raise InvalidInput("text", text, USAGE)
    now = utc_now()
    for n in (2, 1):  # "2h ago" is two words
        if len(words) > n:
            tail = " ".join(words[-n:])
            try:
                parse_when(tail, now)
            except InvalidInput as exc:
                if _TIMELIKE.match(tail):  # meant as a time, not part of the target's name
                    raise InvalidInput("time", tail, exc.expected) from None
                continue
            return " ".join(words[:-n]), tail
    return " ".join(words), "now"


def parse_command(text: str) -> dict[str, Any]:
    """The command text as a recommendation body (what ``POST /api/v1/recommendations`` takes).

    Words ``key=value`` are options (``at``, ``symptom``, ``scope``, ``window``, ``env``; a
    symptom and a scope repeat); the other words are the target and an optional last time, as
    before options existed. A value with spaces is quoted (``symptom="frontend:GET /"``; Slack's
    curly quotes count), and a relative time may end in a separate ``ago`` (``at=2h ago``).
    Slack sends ``<>&`` escaped; they are read back first.
    """
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    try:
        words = shlex.split(text.translate(_QUOTES))
    except ValueError:
        raise InvalidInput("text", text, "balanced quotes; " + USAGE) from None
    options: dict[str, list[str]] = {key: [] for key in _KEYS}
    rest: list[str] = []
    last: str | None = None  # the option the previous word gave, for a following "ago"
    for word in words:
        m = _OPTION.match(word)
        if last is not None and word.lower() == "ago":
            options[last][-1] += " ago"
            last = None
        elif m and m["key"].lower() in options:
            last = m["key"].lower()
            options[last].append(m["value"])
        elif m:
            raise InvalidInput(m["key"] + "=", word, "one of " + ", ".join(
                k + "=" for k in _KEYS[:-1]) + "; " + USAGE)
        else:
            rest.append(word)
            last = None
    target, when = split_command(" ".join(rest))
    for key in ("at", "window", "env", "environment"):
        if len(options[key]) > 1:
            raise InvalidInput(key + "=", options[key], "given once")
    if options["at"]:
        if when != "now" or not target:
            raise InvalidInput("at=", options["at"][0], "the time given once (at= or a "
                               "last word), after the target")
        when = options["at"][0]
    now = utc_now()
    body: dict[str, Any] = {"target": target, "at": when, "symptoms": [
        dict(zip(("node", "started_at"), split_symptom(symptom, now, "symptom"), strict=True))
        for symptom in options["symptom"]]}
    scope = scope_from_texts(options["scope"], "scope")
    if scope:
        body["scope"] = scope_to_dict(scope)
    if options["window"]:
        body["window"] = options["window"][0]
    if options["env"] or options["environment"]:
        body["environment"] = (options["env"] or options["environment"])[0]
    return body


def post_to_webhook(settings: Settings, advice: Advice, limit: int) -> None:
    """Post the suspect list to the configured incoming webhook (never logs its URL)."""
    url = settings.server.slack_webhook_url
    if not url:
        raise InvalidInput("notify_slack", True, "false: this server has no "
                           "server.slack_webhook_url to post to")
    payload = block_kit(advice, limit)
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


def _verified(what: str) -> None:
    """404 NotConfigured without a signing secret; 401 unless Slack signed this request."""
    secret = services().settings.server.slack_signing_secret
    if not secret:
        raise NotConfigured(f"the Slack {what} is off: this server has no "
                            "server.slack_signing_secret")
    verify_slack(secret, request.headers, request.get_data(cache=True), time.time())


@bp.post("/commands")
def command() -> Any:
    svc = services()
    _verified("command")
    text = request.form.get("text", "")
    limit = svc.settings.output.max_suspects
    try:
        advice = svc.advise_request(parse_command(text))
    except AdvisorError as exc:
        # Slack shows only 200 answers to the user: errors go back as an ephemeral message.
        return _ephemeral(f":warning: {exc.message}")
    return {"response_type": "in_channel", **block_kit(advice, limit)}


@bp.post("/interactions")
def interactions() -> Any:
    """Slack's interactivity requests (form field ``payload``, signed like the command).

    A ``block_actions`` click on a verdict button (``verdict_actions``) records the verdict by
    the clicking user; anything else is acknowledged and left alone. Slack wants 200 within
    3 seconds and shows nothing of the body for ``block_actions``, so a verdict that cannot be
    recorded (incident gone, forged value) is still a 200, with the reason in the body and
    the log; the message update goes through ``on_verdict``.
    """
    _verified("interactivity endpoint")
    try:
        payload = json.loads(request.form.get("payload", ""))
    except ValueError:
        raise InvalidInput("payload", None, "the form field payload holding Slack's JSON "
                           "interaction") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return {"ok": True, "recorded": []}
    actions = [a for a in payload.get("actions") or () if isinstance(a, dict)
               and a.get("action_id") == ACTION_ID]
    user = payload.get("user")
    user = user if isinstance(user, dict) else {}
    by = user.get("username") or user.get("name") or user.get("id")
    recorded: list[dict[str, Any]] = []
    for action in actions:
        try:
            if not isinstance(by, str) or not by:
                raise InvalidInput("user", user, "a Slack user with a username or id")
            chosen = decode(action.get("value"))
            stored = services().verdicts().record(
                incident_number(chosen.incident), change=chosen.change,
                verdict=chosen.verdict, by=by)
        except AdvisorError as exc:
            log.warning("Slack verdict not recorded: %s", exc.message)
            return {"ok": False, "error": exc.message, "recorded": recorded}
        recorded.extend(v.to_dict() for v in stored)
    return {"ok": True, "recorded": recorded}
