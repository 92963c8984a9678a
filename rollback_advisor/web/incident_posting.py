"""Where the advice of an incident goes once it is stored: queued for Slack in the outbox.

``IncidentDesk`` calls ``on_advice`` after every advice entry it stores (an incident opened, a
symptom added), from the hook delivery, the API and the CLI alike; the verdict surfaces call
``on_verdict`` after a verdict is recorded. Both only render the message and queue it in the
store's outbox (``store/outbox.py``), one short INSERT: the poster beside ``serve``
(``slack_poster.py``) sends it, retrying through Slack outages, so a delivery never waits for
Slack nor fails with it. Whatever they raise, the caller logs and ignores.

Each row's key makes the hook idempotent: ``advice:<incident_advice.id>`` (an advice stored
once is posted once) and ``verdict:`` + the SHA-256 of (incident, change, verdict, at) (a
redelivered click).
Nothing is queued when Slack is not configured (no bot token and channel, no webhook URL).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from sqlalchemy import select

from ..config import Settings
from ..store import Store, _us
from ..store.incidents import AdviceEntry, IncidentRecord
from ..store.outbox import SlackOutbox
from ..store.schema import incident_advice
from ..verdicts import Verdict
from .incident_message import advice_message, verdict_message

log = logging.getLogger("rollback_advisor.slack")


def slack_configured(settings: Settings) -> bool:
    """A bot token and channel, or an incoming webhook: somewhere to post to."""
    s = settings.server
    return bool((s.slack_bot_token and s.slack_channel) or s.slack_webhook_url)


def on_advice(incident: IncidentRecord, entry: AdviceEntry, *, settings: Settings,
              store: Store) -> None:
    """Queue ``entry`` (the advice just stored for ``incident``) for Slack, once."""
    if not slack_configured(settings):
        return
    with store.engine.connect() as conn:  # the stored row's id: the message's identity
        advice_id = conn.execute(
            select(incident_advice.c.id).where(
                incident_advice.c.incident_id == entry.incident_id,
                incident_advice.c.at_us == _us(entry.at),
                incident_advice.c.trigger == entry.trigger)
            .order_by(incident_advice.c.id.desc()).limit(1)).scalar()
    if advice_id is None:  # not stored (the desk logged why): nothing to announce
        return
    payload = advice_message(incident, entry, settings.output.max_suspects)
    queued = SlackOutbox(store).enqueue(incident_id=incident.id, key=f"advice:{advice_id}",
                                        kind="advice", payload=payload, now=time.time())
    log.debug("incident %s advice %s queued for Slack: %s", incident.id, advice_id, queued)


def on_verdict(incident: IncidentRecord, verdict: Verdict, *, settings: Settings,
               store: Store) -> None:
    """Queue ``verdict`` for Slack: the poster updates the incident's first message to show
    it (bot token) or posts it (webhook). Same rules as ``on_advice``."""
    if not slack_configured(settings):
        return
    payload = {**verdict_message(incident, verdict), "incident": verdict.incident}
    what = json.dumps([verdict.incident, verdict.change, verdict.verdict.value, _us(verdict.at)])
    key = "verdict:" + hashlib.sha256(what.encode("utf-8", "surrogatepass")).hexdigest()
    SlackOutbox(store).enqueue(incident_id=incident.id, key=key, kind="verdict",
                               payload=payload, now=time.time())
