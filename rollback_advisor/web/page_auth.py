"""Signing in to the pages: an API token exchanged for a session cookie, CSRF tokens on every
form, one-time sign-in links (DESIGN §8).

- **The session** is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure over HTTPS or when
  ``server.public_url`` is https), signed with a key derived from the server key
  (``server_key.py``: the configured one, or the embedded store's key file), never a constant.
  It holds no token: signing in with an API token mints the session a token row of its own
  (kind ``session``, its secret thrown away: it is no API token) and the cookie holds that
  row's id and the API token's id. Every page request reads both rows, so signing out (which
  revokes the session's row) ends that session, even in a copy of the cookie, and revoking
  the API token ends all of its sessions at once.
- **CSRF**: a random token per session, in a hidden field of every form and compared with
  ``hmac.compare_digest``; missing is a 400, wrong a 403. The session cookie's SameSite=Lax
  already keeps other sites' POSTs from carrying it; the token covers older browsers and
  same-site attackers.
- **One-time links** (``demo --serve``): ``/signin/once/<id>.<signature>``, the id that of a
  token row minted for the link (kind ``link``, its secret thrown away: it is no API token),
  the signature an HMAC of the id with the server key. Exchanging it revokes that row (a
  conditional UPDATE: of two racing exchanges one wins) and mints the session its own token
  (kind ``session``), which signing out revokes. Opening the link (GET) only shows a sign-in
  button; the button's POST (with its CSRF token) spends it, so link previews and prefetching
  cannot. An unused link expires after LINK_LIFETIME.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask, Request, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from ..errors import AdvisorError, NotFound
from ..store.service_tables import TokenRecord
from .auth import verify_token
from .credentials import create_token
from .errors import Forbidden, NotConfigured, Unauthorized
from .services import EXTENSION, Services, services

SESSION_LIFETIME = timedelta(hours=12)
LINK_LIFETIME = timedelta(hours=24)  # an unused one-time link stops working after this
_SESSION_PURPOSE = b"rollback-advisor page session"
_LINK_PURPOSE = b"rollback-advisor one-time sign-in link:"
LINK_TOKEN_NAME = "one-time sign-in link"
LINK_SESSION_NAME = "session from a one-time sign-in link"
SESSION_NAME = "page session of "  # + the API token's name (or token:<id>)


class CsrfMissing(AdvisorError):
    """A form posted without its CSRF token."""

    status_code = 400


def _derive(key: str, purpose: bytes) -> str:
    return hmac.new(key.encode("utf-8"), purpose, hashlib.sha256).hexdigest()


def page_key(svc: Services) -> str:
    """The key page sessions are signed with; NotConfigured without a server key (PostgreSQL
    and no server.secret_key)."""
    try:
        return _derive(svc.server_key(), _SESSION_PURPOSE)
    except NotConfigured:
        raise NotConfigured("the pages are off: this server has no server.secret_key (needed "
                            "with PostgreSQL; see docs/service.md)") from None


class PageSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, keyed from the server key when first needed: a
    request without the cookie (every API call) never touches the key."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        try:
            key = page_key(app.extensions[EXTENSION])
        except NotConfigured:
            return None
        return URLSafeTimedSerializer(key, salt=self.salt, serializer=self.serializer,
                                      signer_kwargs={"key_derivation": self.key_derivation,
                                                     "digest_method": self.digest_method})

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        public = app.extensions[EXTENSION].settings.server.public_url or ""
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure
                    or public.startswith("https://"))


def install(app: Flask) -> None:
    """Use page sessions in ``app``: HttpOnly, SameSite=Lax, 12 hours."""
    app.session_interface = PageSessions()
    app.config.update(SESSION_COOKIE_NAME="ra_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME)


@dataclass(frozen=True)
class Viewer:
    """Who is signed in: the token's id, scope and the name verdicts are given under."""

    token_id: str
    scope: str
    name: str

    @property
    def admin(self) -> bool:
        return self.scope == "admin"


def viewer() -> Viewer | None:
    """The signed-in person, checked against the session's token row and the API token's
    once per request: either revoked (or deleted) clears the session."""
    if "viewer" in g:
        return g.viewer
    g.viewer = None
    token_id, parent_id = session.get("tid"), session.get("parent")
    if not isinstance(token_id, str):
        return None
    tables = services().tables
    record = tables.get_token(token_id)
    if parent_id is not None:  # signed in with an API token: its row names the person
        parent = tables.get_token(parent_id) if isinstance(parent_id, str) else None
        record = parent if record is not None and record.revoked_us is None else None
    if record is None or record.revoked_us is not None:
        session.clear()
        return None
    g.viewer = Viewer(record.id, record.scope, record.name or f"token:{record.id}")
    return g.viewer


def _start(token_id: str, *, link: bool, parent: str | None = None) -> None:
    """A new session on the session token ``token_id`` (revoked on sign-out); ``parent``:
    the API token signed in with."""
    g.pop("viewer", None)
    session.clear()  # a new session for the signed-in person: no fixation
    session.permanent = True
    session.update(tid=token_id, csrf=secrets.token_urlsafe(32), link=link, own=True)
    if parent is not None:
        session["parent"] = parent


def sign_in(token: str) -> None:
    """Start a session for a live API token (read or admin), on a token row of its own."""
    record = verify_token(token.strip(), "read")
    minted = create_token(tables=services().tables, scope=record.scope,
                          name=(SESSION_NAME + (record.name or f"token:{record.id}"))[:256],
                          kind="session")
    _start(minted["id"], link=False, parent=record.id)


def sign_out() -> None:
    """End the session and revoke its own token row, so a copy of the cookie ends too (never
    the API token signed in with)."""
    token_id, own = session.get("tid"), session.get("own") or session.get("link")
    g.pop("viewer", None)
    session.clear()
    if own and isinstance(token_id, str):
        with contextlib.suppress(NotFound):  # revoked already
            services().tables.revoke_token(token_id)


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf(form: Any) -> None:
    """The posted ``csrf`` field must be this session's token."""
    given = form.get("csrf")
    if not given:
        raise CsrfMissing("the form was sent without its CSRF token: reload the page and "
                          "try again")
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(str(given), expected):
        raise Forbidden("the form's CSRF token does not match this session (an old page, "
                        "or a form from elsewhere): reload the page and try again")


def signin_link(svc: Services, base_url: str, scope: str = "admin") -> str:
    """A one-time sign-in URL: the first request to it starts a session, then it is dead."""
    minted = create_token(tables=svc.tables, scope=scope, name=LINK_TOKEN_NAME, kind="link")
    code = f"{minted['id']}.{_derive(svc.server_key(), _LINK_PURPOSE + minted['id'].encode())}"
    return f"{base_url.rstrip('/')}/signin/once/{code}"


def check_link(code: str) -> None:
    """Refuse (Unauthorized) a one-time link's code that is forged, used, revoked or expired,
    without using it: opening the link only shows a button, so a chat preview or a browser's
    prefetch cannot spend it."""
    _live_link(code)


def exchange_link(code: str) -> None:
    """Start a session from a one-time link's code, which is then dead; Unauthorized when it
    is forged, used, revoked or expired."""
    svc = services()
    record = _live_link(code)
    try:
        svc.tables.revoke_token(record.id)  # once: of two racing exchanges, one wins
    except NotFound:
        raise _used() from None
    minted = create_token(tables=svc.tables, scope=record.scope, name=LINK_SESSION_NAME,
                          kind="session")
    _start(minted["id"], link=True)


def _live_link(code: str) -> TokenRecord:
    """The token row of a genuine, unused, unexpired link's code."""
    svc = services()
    token_id, _, signature = code.partition(".")
    expected = _derive(svc.server_key(), _LINK_PURPOSE + token_id.encode())
    if not hmac.compare_digest(signature, expected):
        raise Unauthorized("this sign-in link is not valid")
    record = svc.tables.get_token(token_id)
    if record is None or record.kind != "link" or record.revoked_us is not None:
        raise _used()
    if time.time() - record.created_us / 1e6 > LINK_LIFETIME.total_seconds():
        raise Unauthorized("this sign-in link has expired (a link lasts "
                           f"{LINK_LIFETIME.total_seconds() / 3600:g} h): ask for a new one")
    return record


def _used() -> Unauthorized:
    return Unauthorized("this sign-in link was used already (a link signs in once): sign in "
                        "with a token, or ask for a new link")
