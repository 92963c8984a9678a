"""Bearer-token checks for the API: read and admin scopes, hashed at rest, revocable."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import request

from ..store.service_tables import TokenRecord
from .credentials import token_id_of, token_matches
from .errors import Forbidden, Unauthorized
from .services import services

F = TypeVar("F", bound=Callable[..., Any])


def _bearer() -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_token(scope: str) -> str:
    """Return the token id when the request carries a live token allowing ``scope``."""
    token = _bearer()
    if token is None:
        raise Unauthorized("an API token is required: send 'Authorization: Bearer <token>' "
                           "(create one with 'rollback-advisor tokens create --scope "
                           f"{scope}')")
    return verify_token(token, scope).id


def verify_token(token: str, scope: str) -> TokenRecord:
    """The stored record of a live ``token`` allowing ``scope`` (the API's bearer token, or
    the one a person signs in to the pages with); Unauthorized or Forbidden otherwise."""
    token_id = token_id_of(token)
    record = services().tables.get_token(token_id) if token_id else None
    # Compare even when no row matched, so timing does not tell unknown ids from bad secrets.
    matches = token_matches(token, record.token_hash if record else "0" * 64)
    if record is None or not matches or record.revoked_us is not None:
        raise Unauthorized("the API token is not valid (unknown, mistyped or revoked)")
    if scope == "admin" and record.scope != "admin":
        raise Forbidden("this needs an admin token; the token given has scope "
                        f"{record.scope!r}")
    return record


def require(scope: str) -> Callable[[F], F]:
    """Decorate a view: ``read`` (skipped when server.read_auth is false) or ``admin``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if scope == "admin" or services().settings.server.read_auth:
                check_token(scope)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
