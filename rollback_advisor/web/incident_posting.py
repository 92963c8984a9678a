"""Where the advice of an incident goes once it is stored: the place Slack posting plugs in.

``IncidentDesk`` calls ``on_advice`` after every advice entry it stores (an incident opened, a
symptom added), from the hook delivery, the API and the CLI alike. The default posts nothing.
An implementation must return quickly (queue the message in a durable outbox rather than call
Slack inline) and may raise: the desk logs the error and the delivery still succeeds.
"""

from __future__ import annotations

from ..config import Settings
from ..store import Store
from ..store.incidents import AdviceEntry, IncidentRecord
from ..verdicts import Verdict


def on_advice(incident: IncidentRecord, entry: AdviceEntry, *, settings: Settings,
              store: Store) -> None:
    """Announce ``entry`` (the advice just stored for ``incident``): nothing yet."""


def on_verdict(incident: IncidentRecord, verdict: Verdict, *, settings: Settings,
               store: Store) -> None:
    """Announce ``verdict`` (just recorded for ``incident``), e.g. update the incident's Slack
    message to show it: nothing yet. Same rules as ``on_advice``."""
