"""API tokens and hook secrets: how they are made, stored and checked (no Flask here).

- An API token is ``ra_<id>_<secret>``. Only SHA-256 of the whole token is stored: tokens are
  256-bit random, so a fast hash is as good as a slow one (nothing to brute-force), and the id
  lets the check fetch one row and compare digests in constant time.
- A hook's secret is never stored. It is ``HMAC-SHA256(server key, "<hook id>:<nonce>")``
  (base64url), with the server key from the config (``server.secret_key: {$env: ...}``) and
  only the nonce in the database. Verifying GitHub's ``X-Hub-Signature-256`` needs the secret
  itself, which this re-derives per delivery; a stolen database alone yields no secret, and
  rotating the server key invalidates every hook secret at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.hooks import ALERT_SOURCES, parser_for

from ..alerts import parse_overrides
from ..errors import ConfigError, InvalidInput

TOKEN_PREFIX = "ra_"
SCOPES = ("read", "admin")


@dataclass(frozen=True)
class NewToken:
    """A freshly minted token: ``token`` is shown once and then only its hash exists."""

    id: str
    token: str
    token_hash: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def mint_token() -> NewToken:
    token_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    return NewToken(token_id, token, hash_token(token))


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token, else None (the caller answers 401)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, rest = token[len(TOKEN_PREFIX):].partition("_")
    if not sep or not rest or len(token_id) != 12:
        return None
    return token_id


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def new_nonce() -> str:
    return secrets.token_hex(16)


def hook_secret(server_key: str | None, hook_id: str, nonce: str) -> str:
    """Derive a hook's secret; the same inputs always give the same secret."""
    if not server_key:
        raise ConfigError("server.secret_key is not set: hooks need a server key to derive their "
                          "secrets (set server.secret_key: {$env: ROLLBACK_ADVISOR_SECRET_KEY} "
                          "and export a long random value)")
    mac = hmac.new(server_key.encode("utf-8"), f"{hook_id}:{nonce}".encode(), hashlib.sha256)
    return "whsec_" + base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")


def _vendor_key(server_key: str, hook_id: str) -> bytes:
    mac = hmac.new(server_key.encode("utf-8"), f"vendor-secret:{hook_id}".encode(),
                   hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest())


def seal_vendor_secret(server_key: str | None, hook_id: str, secret: str) -> str:
    """Encrypt a signing secret a vendor generated (PagerDuty v3 shows one per webhook
    subscription): it must be stored to verify signatures, so it is stored sealed with a key
    derived from the server key (Fernet: AES-CBC and HMAC), never in clear."""
    from cryptography.fernet import Fernet

    if not server_key:
        hook_secret(server_key, hook_id, "")  # the ConfigError explaining the missing key
    assert server_key
    if not secret or not secret.strip():
        raise InvalidInput("secret", "", "the signing secret the vendor showed (non-empty)")
    return Fernet(_vendor_key(server_key, hook_id)).encrypt(secret.strip().encode()).decode()


def open_vendor_secret(server_key: str, hook_id: str, sealed: str | None) -> str | None:
    """The vendor's signing secret, or None when none is stored or the server key changed."""
    from cryptography.fernet import Fernet, InvalidToken

    if not sealed:
        return None
    try:
        return Fernet(_vendor_key(server_key, hook_id)).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def new_hook_id() -> str:
    return "h_" + secrets.token_hex(8)


def register_hook(*, tables: Any, server_key: str | None, base_url: str, name: str,
                  source: str, mapping: Mapping[str, str], environment: str | None,
                  labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Register a hook and return ``{"id", "url", "secret"}``: the only time the secret exists
    outside a request's memory. ``labels`` (alert sources only) overrides which alert labels
    name the node, endpoint, environment and scope (``rollback_advisor.alerts``)."""
    parser_for(source)  # InvalidInput naming the known sources
    if labels and source not in ALERT_SOURCES:
        raise InvalidInput("labels", dict(labels), "label overrides only on an alert hook ("
                           + ", ".join(sorted(ALERT_SOURCES)) + ")")
    labels = parse_overrides(labels or {})
    hook_id, nonce = new_hook_id(), new_nonce()
    secret = hook_secret(server_key, hook_id, nonce)  # fails before storing without a key
    record = tables.add_hook(hook_id=hook_id, name=name, source=source, mapping=mapping,
                             environment=environment, nonce=nonce, labels=labels)
    return {"id": record.id, "url": f"{base_url.rstrip('/')}/hooks/{record.id}",
            "secret": secret, "name": record.name, "source": record.source,
            "mapping": dict(record.mapping), "environment": record.environment,
            "labels": dict(record.labels)}


def create_token(*, tables: Any, scope: str, name: str | None = None,
                 kind: str = "api") -> dict[str, Any]:
    """Mint and store a token; return ``{"token", "id", "scope"}`` (the token shown once).
    ``kind`` says what the row is (``api``; the pages mint ``session`` and ``link`` rows), so
    ``tokens list`` can show the API tokens alone."""
    if scope not in SCOPES:
        raise InvalidInput("scope", scope, "read or admin")
    new = mint_token()
    tables.add_token(token_id=new.id, token_hash=new.token_hash, scope=scope, name=name,
                     kind=kind)
    return {"token": new.token, "id": new.id, "scope": scope}
