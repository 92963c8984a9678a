"""What every webhook parser shares: the contract with the web layer and small pure helpers.

A parser turns one delivery (headers + raw body) into DESIGN §1 changes. ``verify`` and ``parse``
are separate on purpose (the fourkeys split): the web layer checks the signature over the exact raw
bytes first, and ``parse`` can be re-run later over a stored payload without the secret.

Everything here is pure: no I/O, no clock, no Flask. Header lookup is case-insensitive because
Flask passes werkzeug ``Headers`` while tests pass plain dicts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from rollback_advisor.alerts import AlertBatch
from rollback_advisor.environments import EnvironmentRules
from rollback_advisor.errors import InvalidInput
from rollback_advisor.models import DEFAULT_ENVIRONMENT, Change, change_from_dict
from rollback_advisor.timeutil import to_utc

from ..objects import Target

SIGNATURE_HEADER = "X-Rollback-Advisor-Signature"
"""Our own signature header (generic, cdevents, pagerduty): ``sha256=<hex HMAC-SHA256>``."""

DELIVERY_HEADER = "X-Rollback-Advisor-Delivery"
"""Optional de-duplication key a sender (``rollback-advisor notify``) may set on our own hooks."""


@dataclass(frozen=True)
class HookContext:
    """What the web layer knows about the registered hook a delivery arrived on."""

    hook_id: str
    source: str  # one of the PARSERS keys
    mapping: Mapping[str, str] = field(default_factory=dict)  # repo / project / service -> node
    environment: str | None = None  # only events of this environment are stored; None = all
    repo_map: Mapping[str, str] = field(default_factory=dict)  # the graph's repo: annotations
    environments: EnvironmentRules = field(default_factory=EnvironmentRules)  # environment_map
    labels: Mapping[str, str] = field(default_factory=dict)  # alert hooks: label overrides

    def target(self) -> Target:
        """How this hook names what a vendor object changed (see ``connectors.objects``):
        the same naming ``sync`` uses, plus the hook's own mapping and environment."""
        return Target(source=self.source, mapping=self.mapping, repo_map=self.repo_map,
                      environments=self.environments,
                      default_environment=self.environment or DEFAULT_ENVIRONMENT)


@dataclass(frozen=True)
class Parsed:
    """The outcome of one delivery: changes to upsert, or the reason nothing is stored."""

    changes: list[Change]
    event: str
    delivery_key: str | None
    ignored: str | None = None
    raw: Any = None
    stored_body: bytes | None = None  # what to keep of the body when not all of it (a secret)
    alerts: AlertBatch | None = None  # alert hooks: the group and its alerts (no changes)


@runtime_checkable
class HookParser(Protocol):
    """One vendor's webhook: check the signature, then normalise the payload."""

    name: str

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """True when the delivery is signed with ``secret``; never raises."""
        ...

    def parse(self, headers: Mapping[str, str], body: bytes, context: HookContext) -> Parsed:
        """Normalise the delivery; raise InvalidInput (only) when it is malformed."""
        ...


# --- headers and signatures -------------------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up case-insensitively; blank values count as absent."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted and isinstance(value, str):
            value = value.strip()
            return value or None
    return None


def _hmac_hex(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), bytes(body), hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str) -> str:
    """The ``X-Rollback-Advisor-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + _hmac_hex(body, secret)


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time string comparison that never raises (non-ASCII input included)."""
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"),
                               expected.encode("utf-8", "replace"))


def verify_prefixed_hmac(value: str | None, body: bytes, secret: str, prefix: str) -> bool:
    """Check ``<prefix><hex HMAC-SHA256(secret, body)>``; an empty secret never verifies."""
    if not value or not secret or not value.startswith(prefix):
        return False
    return same_secret(value[len(prefix):].strip().lower(), _hmac_hex(body, secret))


def bearer(headers: Mapping[str, str]) -> str | None:
    """The credentials of ``Authorization: Bearer <credentials>``, else None."""
    scheme, _, value = (header(headers, "Authorization") or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def verify_own_signature(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """Check our ``X-Rollback-Advisor-Signature`` (see ``sign``)."""
    return verify_prefixed_hmac(header(headers, SIGNATURE_HEADER), body, secret, "sha256=")


# --- bodies -----------------------------------------------------------------------------------


def decode_json(body: bytes | str) -> Any:
    """Decode a JSON body, turning every way it can be wrong into InvalidInput."""
    if isinstance(body, str):
        text = body
    else:
        try:
            text = bytes(body).decode("utf-8-sig")
        except (UnicodeDecodeError, TypeError):
            raise InvalidInput("body", None, "a UTF-8 encoded JSON document") from None
    if not text.strip():
        raise InvalidInput("body", "", "a JSON document (the body is empty)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput("body", text[:60], f"valid JSON ({exc.msg} at line {exc.lineno} "
                           f"column {exc.colno})") from None
    except ValueError:  # an integer past Python's 4300-digit conversion limit
        raise InvalidInput("body", text[:60], "JSON whose numbers have at most 4300 "
                           "digits") from None
    except RecursionError:
        raise InvalidInput("body", text[:60], "a JSON document nested less deeply") from None


# json.dumps with these options builds an encoder per call: one, kept, spells every value
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=str)


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value, so the same event always hashes the same."""
    return _CANONICAL.encode(value)


def content_hash(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON: a stable id or delivery key for id-less payloads."""
    # surrogatepass: a lone surrogate must reach validation (a 400 naming the field), not
    # fail here; every other text hashes as before
    return hashlib.sha256(canonical_json(value).encode("utf-8", "surrogatepass")).hexdigest()


# --- payload access ---------------------------------------------------------------------------


def as_object(value: Any, field_name: str) -> Mapping[str, Any]:
    """The value as a JSON object, or InvalidInput naming where it should have been."""
    if not isinstance(value, Mapping):
        raise InvalidInput(field_name, value, "a JSON object")
    return value


def opt_object(parent: Mapping[str, Any], key: str, field_name: str) -> Mapping[str, Any]:
    """An optional nested object: absent/null gives {}, anything else but an object is an error."""
    value = parent.get(key)
    if value is None:
        return {}
    return as_object(value, field_name)


def text(parent: Mapping[str, Any], key: str) -> str | None:
    """An optional display string: anything that is not a non-blank string counts as absent."""
    value = parent.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def ident(parent: Mapping[str, Any], key: str, field_name: str, *, required: bool = True
          ) -> str | None:
    """An identifier vendors send as a number or a string; returned as a string."""
    value = parent.get(key)
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(field_name, value, "an identifier (a number or a string)")
        return None
    if isinstance(value, int | str):
        return str(value).strip()
    raise InvalidInput(field_name, value, "an identifier (a number or a string)")


def login(parent: Mapping[str, Any], key: str) -> str | None:
    """A user's login from a nested user object (``sender.login``, ``user.username``)."""
    user = parent.get(key)
    if isinstance(user, Mapping):
        return text(user, "login") or text(user, "username") or text(user, "name")
    return None


T = TypeVar("T")


def guarded(vendor: str, func: Callable[[], T]) -> T:
    """Run a payload mapping, reporting shape errors the accessors missed as InvalidInput.

    The accessors above validate what they read; this net keeps the contract ("parse raises
    InvalidInput and nothing else") even for a shape nobody anticipated.
    """
    try:
        return func()
    except InvalidInput:
        raise
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidInput("body", None, f"a {vendor} webhook payload ({type(exc).__name__}: "
                           f"{exc})") from None


# --- times ------------------------------------------------------------------------------------

_VENDOR_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T t](?P<time>\d{2}:\d{2}(?::\d{2})?)(?P<frac>[.,]\d+)?"
    r"\s*(?P<tz>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_vendor_time(value: Any, field_name: str) -> datetime:
    """Parse the timestamp spellings vendors use into an aware UTC datetime.

    RFC 3339 (``...Z``, ``+02:00``), GitLab's ``2021-04-28 21:50:00 +0200`` and
    ``2016-08-12 15:23:28 UTC``, PagerDuty's ``...315+0000``, Go's nanoseconds, and epoch seconds.
    A time without an offset is rejected: guessing the zone would move the change by hours.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput(field_name, value, "a timestamp with a UTC offset")
        return to_utc(value, field_name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return to_utc(datetime.fromtimestamp(value, UTC), field_name, value)
        except (OverflowError, OSError, ValueError):
            raise InvalidInput(field_name, value, "epoch seconds in a sensible range") from None
    if not isinstance(value, str):
        raise InvalidInput(field_name, value, "a timestamp string")
    m = _VENDOR_TIME.match(value.strip())
    if m is None:
        raise InvalidInput(field_name, value, "a timestamp such as 2021-04-28T21:50:00Z or "
                           "2021-04-28 21:50:00 +0200")
    tz = m.group("tz")
    if tz is None:
        raise InvalidInput(field_name, value, "a timestamp with a UTC offset (add Z or +00:00)")
    if tz in ("Z", "z", "UTC", "GMT"):
        offset = "+00:00"
    else:
        digits = tz[1:].replace(":", "")
        offset = f"{tz[0]}{digits[:2]}:{digits[2:4] or '00'}"
    frac = (m.group("frac") or "").replace(",", ".")[:7]  # microseconds: Go sends nanoseconds
    try:
        dt = datetime.fromisoformat(f"{m.group('date')}T{m.group('time')}{frac}{offset}")
    except ValueError:
        raise InvalidInput(field_name, value, "a valid calendar date and time") from None
    return to_utc(dt, field_name, value)


# --- mapping to the graph and to DESIGN §1 ----------------------------------------------------

_SOURCE_PREFIXES = ("github:", "gitlab:", "cdevents:", "pagerduty:", "generic:")


def map_service(mapping: Mapping[str, str], *keys: str | None) -> str | None:
    """The graph node the hook's mapping gives for the first key it knows, else None.

    Keys match exactly, then case-insensitively; mapping keys may carry a ``github:``-style
    prefix as the graph's ``repo:`` field does (DESIGN §2).
    """
    normalised: dict[str, str] = {}
    for raw_key, node in mapping.items():
        if not isinstance(raw_key, str) or not isinstance(node, str) or not node:
            continue
        key = raw_key
        for prefix in _SOURCE_PREFIXES:
            if key.lower().startswith(prefix):
                key = key[len(prefix):]
                break
        normalised.setdefault(key.casefold(), node)
    for wanted in keys:
        if not wanted:
            continue
        if wanted in mapping and isinstance(mapping[wanted], str) and mapping[wanted]:
            return mapping[wanted]
        if wanted.casefold() in normalised:
            return normalised[wanted.casefold()]
    return None


def effective_environment(context: HookContext, environment: str | None) -> str:
    """The payload's environment; else the hook's configured one; else DESIGN's default.

    Events that name no environment (releases, workflow runs) are taken to belong to the
    environment the hook was registered for.
    """
    return environment or context.environment or DEFAULT_ENVIRONMENT


def environment_filtered(context: HookContext, environment: str) -> str | None:
    """The reason to drop an event of ``environment``, or None to keep it."""
    if context.environment is None or environment.casefold() == context.environment.casefold():
        return None
    return (f"environment {environment} is filtered out (this hook stores "
            f"{context.environment} only)")


def build_change(data: dict[str, Any]) -> Change:
    """Validate a change built from a vendor payload (DESIGN §1), dropping empty fields.

    A vendor ``started_at`` later than ``at`` (clock skew between two systems) is dropped rather
    than rejecting the event.
    """
    clean = {k: v for k, v in data.items() if v is not None and v != {}}
    for key in ("at", "started_at"):
        # Whole seconds, as every output writes them: the change then equals its stored form.
        if isinstance(clean.get(key), datetime):
            clean[key] = clean[key].replace(microsecond=0)
    started, at = clean.get("started_at"), clean.get("at")
    if isinstance(started, datetime) and isinstance(at, datetime) and started > at:
        del clean["started_at"]
    return change_from_dict(clean)


def join_reasons(reasons: Iterable[str]) -> str:
    """One line out of several ignore reasons, without repeats."""
    return "; ".join(dict.fromkeys(reasons))
