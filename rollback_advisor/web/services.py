"""The per-app services the views use (store, tables, advisor, metrics), kept in
``app.extensions``: no module globals.

Like flaskr's ``db.py``: the blueprints import ``services()`` from here and the factory
(``app.py``) imports the blueprints, so nothing imports the factory back and the web modules
form no import circle (tests/meta checks it).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flask import current_app, request
from werkzeug.datastructures import MultiDict

from ..advisor import Advice, Advisor
from ..config import Settings
from ..errors import InvalidInput
from ..incident_input import scope_from_texts, symptoms_from_body, symptoms_from_texts
from ..incidents import IncidentDesk
from ..models import MAX_LENGTHS, Incident, check_text, scope_from_dict
from ..store import Store
from ..store.incidents import AdviceEntry, IncidentRecord
from ..store.service_tables import HookRecord, ServiceTables
from ..timeutil import parse_duration, parse_when, utc_now
from ..verdict_desk import VerdictDesk
from ..verdicts import Verdict
from .errors import NotConfigured
from .freshness import Freshness
from .metrics import Metrics
from .server_key import server_key

EXTENSION = "rollback_advisor"


@dataclass
class Services:
    """What the views need, built once per app (so once per gunicorn worker, after fork)."""

    settings: Settings
    store: Store
    tables: ServiceTables
    metrics: Metrics
    # Set by ``serve`` in each worker (one app per process): see ``_freeze_heap``.
    freeze_heap: bool = False
    _advisor: Advisor | None = None
    _graph_stamp: int | None = None
    # active hooks as last read, with their derived secrets (``hook_secrets``)
    _hooks: dict[str, tuple[HookRecord, tuple[str, ...]]] = field(default_factory=dict)
    _server_key: str | None = None
    _freshness: Freshness | None = None
    # one graph build at a time per worker: the first requests after a start (or a new graph)
    # wait for it instead of each building their own copy (peak memory, benchmarks/
    # http_recommend.py); gevent's patched lock in a gevent worker
    _build_lock: Any = field(default_factory=threading.Lock)

    @property
    def freshness(self) -> Freshness:
        """Connector sources: the pull before advice, their status (web/freshness.py)."""
        if self._freshness is None:
            self._freshness = Freshness(self.settings, self.store, self.metrics)
        return self._freshness

    def advisor(self) -> Advisor:
        """The advisor, rebuilt when another process stored a new graph (``graph load``)."""
        stamp = self.store.graph_stamp()  # the driver's own SQL: no Core compile per request
        if self._advisor is None or stamp != self._graph_stamp:
            with self._build_lock:
                if self._advisor is None or stamp != self._graph_stamp:
                    advisor = Advisor(self.store, self.settings)
                    if self.freeze_heap:
                        advisor.graph()  # build it now (NotFound as before when none stored)
                        _freeze_heap()
                    self._advisor = advisor
                    self._graph_stamp = stamp
        assert self._advisor is not None
        return self._advisor

    def advise_request(self, data: Mapping[str, Any]) -> Advice:
        """Advice for the incident a request describes, shared by the API and the slash
        command: ``target``, ``at``, ``environment``, ``window``, the symptoms and the scope.
        A JSON body has ``symptoms`` (``[{node, started_at?}]``) and ``scope`` (label -> list
        of strings); a query string (a MultiDict) repeats ``symptom=NODE[@TIME]`` and
        ``scope=LABEL=VALUE``, the words of the CLI options. ``window`` overrides the engine's
        look-back for this call only, on the same graph (no rebuild)."""
        target = text_field(data, "target", required=True)
        assert target is not None
        now = utc_now()
        at = parse_when(text_field(data, "at") or "now", now, "at")
        if isinstance(data, MultiDict):
            symptoms = symptoms_from_texts(data.getlist("symptom"), onset=at, now=now,
                                           field="symptom")
            scope = scope_from_texts(data.getlist("scope"), "scope")
        else:
            symptoms = symptoms_from_body(data.get("symptoms"), onset=at, now=now)
            scope = scope_from_dict(data.get("scope"), "scope")
        advisor = self.advisor()
        window = text_field(data, "window")
        if window:
            engine = replace(self.settings.engine, window=parse_duration(window, "window"))
            fresh = Advisor(self.store, replace(self.settings, engine=engine))
            fresh._graph = advisor.graph()
            advisor = fresh
        environment = text_field(data, "environment") or self.settings.environment
        incident = Incident(target=target, started_at=at, environment=environment,
                            symptoms=symptoms, scope=scope)
        # connectors' sources on the incident's paths sync first, under sync.pull_deadline
        return self.freshness.advise(advisor.advise, advisor.graph(), incident)

    def incidents(self) -> IncidentDesk:
        """The incident desk on this app's store and advisor; advice goes to
        ``incident_posting.on_advice``."""
        from .incident_posting import on_advice

        def announce(incident: IncidentRecord, entry: AdviceEntry) -> None:
            on_advice(incident, entry, settings=self.settings, store=self.store)

        def advise(incident: Incident) -> Advice:
            advisor = self.advisor()  # sources on the incident's paths sync first
            return self.freshness.advise(advisor.advise, advisor.graph(), incident)

        return IncidentDesk(self.store, self.advisor,
                            default_environment=self.settings.environment, on_advice=announce,
                            advise=advise)

    def verdicts(self) -> VerdictDesk:
        """The verdict desk on this app's store; verdicts go to
        ``incident_posting.on_verdict``."""
        from .incident_posting import on_verdict

        def announce(incident: IncidentRecord, verdict: Verdict) -> None:
            on_verdict(incident, verdict, settings=self.settings, store=self.store)

        return VerdictDesk(self.store, on_verdict=announce)

    def server_key(self) -> str:
        """The key hook secrets derive from (``server_key``: made on first use with the
        embedded store). Without one (PostgreSQL and no server.secret_key, which ``serve``
        refuses at start) hooks are a feature this server lacks: 404 NotConfigured."""
        if self._server_key is None:
            self._server_key = server_key(self.settings)
        if self._server_key is None:
            raise NotConfigured("hooks are off: this server has no server.secret_key (needed "
                                "with PostgreSQL; see docs/service.md)")
        return self._server_key

    def hook(self, hook_id: str) -> HookRecord | None:
        """The hook as stored now, None when unknown."""
        return self.tables.get_hook(hook_id)

    def cached_hook(self, hook_id: str) -> HookRecord | None:
        """This worker's copy of an active hook (``hook_secrets`` keeps it), or None. The copy
        may be stale (revoked, or another vendor secret, in another process): whoever acts on
        it confirms it against the store in the same transaction
        (``ServiceTables.store_delivery(confirm=...)``) or reads the hook afresh."""
        entry = self._hooks.get(hook_id)
        return entry[0] if entry is not None else None

    def hook_secrets(self, hook: HookRecord) -> tuple[str, ...]:
        """The secrets a delivery by ``hook`` may be signed with: its own and its vendor's
        (PagerDuty's) if stored. Two HMACs and a decryption, derived once per nonce and vendor
        secret; an active hook is kept for ``cached_hook``."""
        entry = self._hooks.get(hook.id)
        if entry is not None and (entry[0] is hook or entry[0] == hook):
            return entry[1]
        from .credentials import hook_secret, open_vendor_secret

        server = self.server_key()
        secrets = tuple(s for s in (hook_secret(server, hook.id, hook.nonce),
                                    open_vendor_secret(server, hook.id, hook.vendor_secret))
                        if s)
        if hook.active:
            if len(self._hooks) > 10_000:
                self._hooks.clear()
            self._hooks[hook.id] = (hook, secrets)
        return secrets

    def forget_hook(self, hook_id: str) -> None:
        """Drop this worker's copy of a hook (its next delivery reads the hook again)."""
        self._hooks.pop(hook_id, None)

    def public_url(self) -> str:
        server = self.settings.server
        if server.public_url:
            return server.public_url.rstrip("/")
        return request.host_url.rstrip("/") if request else \
            f"http://{server.host}:{server.port}"


def _freeze_heap() -> None:
    """Move every object alive now (the built graph above all) out of the garbage collector's
    sight: with a 10,000-service graph a full collection walked it in about 100 ms, and one
    landed in a few percent of recommendation requests, which was the whole p99. Frozen objects
    are still freed by reference counting; ``unfreeze`` first hands a replaced graph back to
    the collector. Only for a process that serves a single app (``serve``'s workers): freezing
    is process-wide."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def services() -> Services:
    """This app's services (the app being the one handling the current request)."""
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


# what a change can hold (models.MAX_LENGTHS): a longer target or environment matches nothing
_MAX_LENGTHS = {"target": MAX_LENGTHS["service"], "service": MAX_LENGTHS["service"],
                "environment": MAX_LENGTHS["environment"]}


def text_field(data: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    """A non-empty string field of a request, stripped and within what the store holds;
    InvalidInput naming it otherwise."""
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput(key, None, "a non-empty string (required)")
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(key, value, "a non-empty string")
    return check_text(value.strip(), key, _MAX_LENGTHS.get(key))
