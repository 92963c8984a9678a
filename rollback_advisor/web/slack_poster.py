"""The poster: sends what the incident hooks queued in the Slack outbox, in the background.

Runs in the process ``serve`` starts beside its workers (``sync_process``), never on a request
thread. With a bot token and channel, an incident's first advice is one ``chat.postMessage``
(its channel and ``ts`` kept in ``slack_posts``), later advice are replies in its thread
(``thread_ts``), and a verdict is a ``chat.update`` of the first message showing every verdict
given so far. With only an incoming webhook, each message is one post.

A failed send (a 5xx, a 429, a refused connection, any error Slack answers) stays in the outbox
and is tried again after a back-off: Slack's ``Retry-After`` when it gives one, else 5 s
doubling up to a minute (an incident channel a few minutes behind is worse than a request a
minute to a Slack that is down). A poster starting (``run``: after a restart, say with the
channel or token put right) tries every unsent message at once instead of waiting out a back-off
it did not choose. Nothing is dropped; a message is marked sent only after Slack took
it. A poster killed between Slack's answer and that mark would send the message again after
its lease expires: at-least-once there, exactly-once otherwise (the lease is far longer than a
send's timeout).

A message whose blocks Slack refuses (``invalid_blocks``, ``invalid_blocks_format``, or
``msg_blocks_too_long``, which Slack answers below its documented limits) would fail the same
way forever and hold the incident's later messages behind it: it is sent again at once as its
text alone, which carries the same advice without the buttons.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..config import Settings
from ..store import Store
from ..store.outbox import OutboxMessage, SlackOutbox
from ..store.verdicts import VerdictStore
from .incident_message import with_verdicts
from .incident_posting import slack_configured

log = logging.getLogger("rollback_advisor.slack")

LEASE_SECONDS = 120.0  # a claimed row's lease: far beyond BATCH sends of TIMEOUT each
TIMEOUT = 10
BATCH = 5
BACKOFF_BASE = 5.0
BACKOFF_CAP = 60.0
# Slack's answers to blocks it will never take: the message goes again as its text alone
BLOCKS_REFUSED = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"})


class SendFailed(Exception):
    """Slack did not take the message; ``retry_after``: when it said to come back."""

    def __init__(self, reason: str, retry_after: float | None = None,
                 error: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.error = error  # Slack's error code, when it gave one


@dataclass(frozen=True)
class Drained:
    sent: int = 0
    failed: int = 0


def backoff(attempts: int, retry_after: float | None) -> float:
    """Seconds until the next try of a message that failed ``attempts`` times."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return max(delay, retry_after or 0.0)


class SlackPoster:
    """Drains the outbox to Slack: ``drain`` once (tests), ``run`` until stopped."""

    def __init__(self, store: Store, settings: Settings, *,
                 observe: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.outbox = SlackOutbox(store)
        self.server = settings.server
        self.settings = settings
        self.observe = observe or (lambda outcome: None)
        self.clock = clock
        self.holder = f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.client = None
        if self.server.slack_bot_token and self.server.slack_channel:
            # no retry handlers of its own: retries come from the outbox, with its back-off
            self.client = WebClient(token=self.server.slack_bot_token,
                                    base_url=self.server.slack_api_url, timeout=TIMEOUT,
                                    retry_handlers=[])

    def drain(self) -> Drained:
        """Send every message due now (until none is left that this poster can claim)."""
        sent = failed = 0
        if not slack_configured(self.settings):
            return Drained()
        while True:
            batch = self.outbox.claim(self.holder, now=self.clock(), ttl=LEASE_SECONDS,
                                      limit=BATCH)
            if not batch:
                return Drained(sent, failed)
            for message in batch:
                if self._send(message):
                    sent += 1
                else:
                    failed += 1

    def run(self, stopped: threading.Event, interval: float = 1.0) -> None:
        """Drain every ``interval`` seconds until ``stopped`` is set; a store error is logged
        and tried again on the next round. Unsent messages are due at once when it starts."""
        try:
            self.outbox.due_now(now=self.clock())
        except Exception:  # noqa: BLE001 - the first round tries again anyway
            log.exception("making the Slack outbox due failed")
        while not stopped.is_set():
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - the poster outlives a bad round
                log.exception("draining the Slack outbox failed")
            stopped.wait(interval)

    def _send(self, message: OutboxMessage) -> bool:
        try:
            channel, ts, first = self._deliver(message)
        except SendFailed as exc:
            now = self.clock()
            self.outbox.failed(message, self.holder, now=now,
                               retry_at=now + backoff(message.attempts, exc.retry_after),
                               error=exc.reason)
            log.warning("Slack post for incident %s failed (attempt %s): %s",
                        message.incident_id, message.attempts, exc.reason)
            self.observe("failed")
            return False
        self.outbox.sent(message, self.holder, now=self.clock(), channel=channel, ts=ts,
                         first_of_incident=first)
        self.observe("sent")
        return True

    def _deliver(self, message: OutboxMessage) -> tuple[str | None, str | None, bool]:
        """Send one message: (channel, ts, is the incident's first message)."""
        content = {"text": message.payload["text"], "blocks": message.payload["blocks"]}
        if self.client is None:
            self._text_if_refused(self._webhook, content)
            return None, None, False
        posting = self.outbox.posting(message.incident_id)
        if posting is None:
            answer = self._text_if_refused(lambda c: self._call(
                "chat_postMessage", channel=self.server.slack_channel, **c), content)
            return answer.get("channel"), answer.get("ts"), message.kind == "advice"
        if message.kind == "verdict":
            verdicts = VerdictStore(self.store).list(message.payload.get("incident"))
            answer = self._text_if_refused(lambda c: self._call(
                "chat_update", channel=posting.channel, ts=posting.ts, **c),
                with_verdicts(posting.payload, verdicts))
            return answer.get("channel"), answer.get("ts"), False
        answer = self._text_if_refused(lambda c: self._call(
            "chat_postMessage", channel=posting.channel, thread_ts=posting.ts, **c), content)
        return answer.get("channel"), answer.get("ts"), False

    def _text_if_refused(self, send: Callable[[dict[str, Any]], Any],
                         content: dict[str, Any]) -> Any:
        """``send(content)``; when Slack refuses its blocks, ``send`` of its text alone."""
        try:
            return send(content)
        except SendFailed as exc:
            if exc.error not in BLOCKS_REFUSED:
                raise
            log.warning("Slack refused a message's blocks (%s): sending its text alone",
                        exc.error)
            return send({"text": content["text"]})

    def _call(self, method: str, **kwargs: Any) -> Any:
        assert self.client is not None
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
            error = response.data.get("error") if isinstance(response.data, dict) else None
            raise SendFailed(f"Slack answered {response.status_code} to {method}"
                             + (f": {error}" if error else ""),
                             _seconds(headers.get("retry-after")),
                             error if isinstance(error, str) else None) from None
        except Exception as exc:  # noqa: BLE001 - refused, timed out, not JSON: try later
            raise SendFailed(f"{method} failed: {type(exc).__name__}") from None

    def _webhook(self, content: dict[str, Any]) -> None:
        url = self.server.slack_webhook_url
        assert url is not None
        try:
            response = requests.post(url, json=content, timeout=TIMEOUT)
        except requests.RequestException as exc:  # the URL is a secret: never in the reason
            raise SendFailed(f"the webhook post failed: {type(exc).__name__}") from None
        if response.status_code >= 300:
            # a webhook names its error in a plain-text body (``invalid_blocks``)
            error = response.text.strip()[:64] if response.status_code == 400 else None
            raise SendFailed(f"Slack answered {response.status_code} to the webhook post"
                             + (f": {error}" if error else ""),
                             _seconds(response.headers.get("Retry-After")), error)


def _seconds(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None
