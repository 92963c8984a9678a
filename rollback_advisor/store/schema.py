"""The store's tables (SQLAlchemy Core), shared by the store and its Alembic migrations.

Times are integer microseconds since the epoch (UTC): the same type and the same index order on
SQLite and PostgreSQL, so one query serves both and window scans stay index range scans.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from .columns import WINDOW_INDEX

metadata = MetaData()

changes = Table(
    "changes", metadata,
    Column("id", String(512), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("environment", String(128), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    # started_at, else at: the engine's window reaches back to the rollout start
    Column("start_us", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("is_global", Boolean, nullable=False),
    Column("source", String(128)),
    # the DESIGN §1 document, as stored; re-derived fields above are for indexes only
    Column("doc", Text, nullable=False),
    Column("ingested_us", BigInteger, nullable=False),
    # what the engine's numeric pass reads without decoding doc (migration 0003)
    Column("services", Text, nullable=False, server_default=""),
    Column("rollout_pct", Float),
    Column("destructive", Boolean, nullable=False, server_default=false()),
    # compact JSON of the change's scope, NULL when unknown (migration 0004)
    Column("scope", Text),
    # who created the change and alone may update it: hook:<id>, sync:<section> or import;
    # NULL for rows stored before migration 0005 by sync or import
    Column("owner", String(128)),
    # what was deployed, for the redeploy rule's one query per batch (migration 0007)
    Column("version", String(256)),
    Index("ix_changes_version", "version"),
    Index("ix_changes_window", *WINDOW_INDEX),
)

change_services = Table(
    "change_services", metadata,
    Column("change_id", String(512), ForeignKey("changes.id", ondelete="CASCADE"),
           primary_key=True),
    Column("service", String(512), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("environment", String(128), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_change_services_lookup", "service", "environment", "kind", "at_us"),
    Index("ix_change_services_at", "service", "at_us"),
)

graphs = Table(
    "graphs", metadata,
    Column("id", Integer, primary_key=True),  # always 1: one graph per store
    Column("document", Text, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

store_meta = Table(
    "store_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

sync_cursors = Table(
    "sync_cursors", metadata,
    Column("source", String(128), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

# -- the HTTP service (migration 0002) ---------------------------------------------------------

hooks = Table(
    "hooks", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("source", String(32), nullable=False),
    Column("mapping", Text, nullable=False),  # JSON {repo: node}
    Column("environment", String(128)),
    # the hook's secret is HMAC(server key, id:nonce): only the nonce is stored
    Column("nonce", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger),
    Column("labels", Text),  # alert hooks: JSON {field: labels} overrides (migration 0007)
    # a signing secret the vendor generated (PagerDuty v3), Fernet-encrypted with a key
    # derived from the server key (migration 0007); NULL for none
    Column("vendor_secret", Text),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False),  # SHA-256 hex of the whole token
    Column("scope", String(16), nullable=False),
    Column("name", String(256)),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger),
    # api (tokens create), session (a page session's own row) or link (a one-time sign-in
    # link): what `tokens list` shows by default (migration 0013)
    Column("kind", String(16), nullable=False, server_default="api"),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("hook_id", String(64), ForeignKey("hooks.id"), nullable=False),
    # the sender's delivery id (X-GitHub-Delivery, CloudEvents id, ...) or the body's SHA-256,
    # whole; its hex SHA-256 is UNIQUE per hook, so a redelivery racing the first one stores
    # nothing, however long the key (migration 0006)
    Column("delivery_key", Text, nullable=False),
    Column("key_sha256", String(64), nullable=False),
    Column("event", String(128), nullable=False),
    Column("received_us", BigInteger, nullable=False),
    Column("headers", Text, nullable=False),  # JSON, secrets removed
    Column("body", LargeBinary, nullable=False),
    Column("outcome", String(16), nullable=False),  # stored
    Column("change_ids", Text, nullable=False),  # JSON list
    UniqueConstraint("hook_id", "key_sha256", name="uq_deliveries_hook_key_sha256"),
    Index("ix_deliveries_hook_received", "hook_id", "received_us"),
)

# -- scheduled syncs (migration 0009) -----------------------------------------------------------

# One row per connector section: its lease (which process syncs it now, until when), when it is
# next due, and what the last attempts did, for `sync status`, /api/v1/sources and /healthz.
sync_state = Table(
    "sync_state", metadata,
    Column("source", String(128), primary_key=True),
    Column("holder", String(128)),  # who holds the lease; NULL when free
    Column("lease_expires_us", BigInteger, nullable=False),  # free once past, holder or not
    Column("next_run_us", BigInteger, nullable=False),  # the scheduler's next due time
    Column("last_attempt_us", BigInteger),
    Column("last_success_us", BigInteger),
    Column("last_error", Text),
    Column("last_error_us", BigInteger),
    Column("failures", Integer, nullable=False),  # consecutive failed attempts
    Column("auth_failures", Integer, nullable=False),  # consecutive authentication failures
    Column("paused", Text),  # why the scheduler stopped trying (bad credentials); NULL = active
    Column("last_seconds", Float),
    Column("last_changes", Integer),  # added + updated by the last successful sync
)

# -- responders' verdicts (migration 0008) -----------------------------------------------------

verdicts = Table(
    "verdicts", metadata,
    Column("incident", String(256), primary_key=True),
    # the change id, or "" for a verdict that names none (no_change): a key without NULL, so
    # a later verdict on the same (incident, change) replaces the earlier on both backends
    Column("change_key", String(512), primary_key=True),
    Column("verdict", String(16), nullable=False),
    Column("by", String(256), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("note", Text),
    # the change's kind and source when the verdict was recorded: learning needs no change row
    Column("kind", String(32)),
    Column("source", String(128)),
    Column("recorded_us", BigInteger, nullable=False),
)

# -- incidents (migration 0010) ----------------------------------------------------------------

_ID = BigInteger().with_variant(Integer, "sqlite")

incidents = Table(
    "incidents", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("title", String(512)),
    Column("target", String(512), nullable=False),
    Column("environment", String(128), nullable=False),
    Column("scope", Text),  # JSON label -> values, NULL when unknown
    Column("started_us", BigInteger, nullable=False),  # the earliest onset
    Column("status", String(16), nullable=False),  # open | resolved
    Column("resolved_us", BigInteger),
    Column("source", String(32), nullable=False),  # the hook's source, or manual
    Column("hook_id", String(64)),
    Column("external_id", Text),  # the alert group key, the PagerDuty incident id
    # hex SHA-256 of external_id: UNIQUE per hook, so a group opens one incident however
    # often (or however concurrently) it is delivered
    Column("external_sha256", String(64)),
    Column("url", Text),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    # the advice a delivery owed and no one has stored yet (migration 0012): set in the
    # delivery's transaction, cleared in the advice's, so a worker killed in between leaves it
    # for the next delivery of the group to make good
    Column("advice_due", String(32)),
    UniqueConstraint("hook_id", "external_sha256", name="uq_incidents_hook_external"),
    Index("ix_incidents_status_started", "status", "started_us"),
)

incident_alerts = Table(
    "incident_alerts", metadata,
    Column("incident_id", _ID, ForeignKey("incidents.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(512), primary_key=True),  # fingerprint / id within the group
    Column("node", String(512)),
    Column("known", Boolean, nullable=False),  # the graph knew the node when it arrived
    Column("firing", Boolean, nullable=False),
    Column("starts_us", BigInteger, nullable=False),
    Column("ends_us", BigInteger),
    Column("doc", Text, nullable=False),  # the alert as last reported (JSON)
)

incident_advice = Table(
    "incident_advice", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("incident_id", _ID, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("trigger", String(32), nullable=False),  # opened | symptom_added | ... | manual
    Column("decision", String(16)),
    Column("confidence", Float),
    Column("change_id", String(512)),  # the top suspect
    Column("error", Text),  # why no advice could be computed
    Column("advice", Text),  # Advice.to_dict() as JSON
    Index("ix_incident_advice_incident", "incident_id", "id"),
)

# -- the Slack outbox (migration 0011) ---------------------------------------------------------

slack_outbox = Table(
    "slack_outbox", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("incident_id", _ID, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    # advice:<incident_advice.id> | verdict:<incident>:<change>:<verdict>:<at_us>: UNIQUE, so a
    # message is queued once however often its hook runs
    Column("key", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # advice | verdict
    Column("payload", Text, nullable=False),  # {"text", "blocks"} as rendered when queued
    Column("created_us", BigInteger, nullable=False),
    Column("next_attempt_us", BigInteger, nullable=False),  # the back-off after a failure
    Column("claimed_by", String(128)),  # the poster sending it now
    Column("claimed_until_us", BigInteger, nullable=False),  # its lease; free once past
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("sent_us", BigInteger),  # NULL: still to send
    Column("channel", String(64)),  # where Slack put it (bot token)
    Column("ts", String(64)),
    UniqueConstraint("key", name="uq_slack_outbox_key"),
    Index("ix_slack_outbox_pending", "sent_us", "incident_id", "id"),
)

# Each incident's first message, for replies in its thread and chat.update on a verdict.
slack_posts = Table(
    "slack_posts", metadata,
    Column("incident_id", _ID, ForeignKey("incidents.id", ondelete="CASCADE"),
           primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("ts", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # what it showed, before any verdict
    Column("posted_us", BigInteger, nullable=False),
)
