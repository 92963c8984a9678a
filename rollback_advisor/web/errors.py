"""One JSON error shape for every error: ``{"error": {"code", "message", "details"}}``.

Produced by error handlers only, so views raise AdvisorError subclasses and never build error
bodies themselves. Messages never carry a token or a secret: auth errors say what is wrong with
the credential, not what it was.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import AdvisorError

log = logging.getLogger("rollback_advisor.web")
MAX_BYTES = "ROLLBACK_ADVISOR_MAX_REQUEST_BYTES"  # app.config key: server.max_request_bytes


class Unauthorized(AdvisorError):
    """No credential, or one that is not valid (unknown, revoked, bad signature)."""

    status_code = 401


class Forbidden(AdvisorError):
    """A valid credential whose scope does not allow this."""

    status_code = 403


class NotConfigured(AdvisorError):
    """A feature this server is not configured for (the Slack command without its signing
    secret, hooks on PostgreSQL without a server key): 404, as for a route that does not
    exist, since nothing failed on the server; the message names the setting."""

    status_code = 404


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AdvisorError)
    def advisor_error(exc: AdvisorError) -> Response:
        status = exc.status_code
        if status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc.message)
        body = {"error": exc.to_dict()}
        if status == 500:  # a ConfigError: the operator's problem; say so without internals
            body["error"]["details"] = {}
        headers = {"WWW-Authenticate": 'Bearer realm="rollback-advisor"'} if status == 401 else {}
        return _json(status, body, headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "Error").replace(" ", "").replace("-", "")
        message = exc.description or exc.name or "error"
        if exc.code == 413:
            message = (f"the request body is larger than the limit of "
                       f"{app.config[MAX_BYTES]} bytes (server.max_request_bytes)")
        headers = {}
        if exc.code == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return _json(exc.code or 500, error_body(code, message), headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # The traceback goes to the log (never a request body or header value); the client
        # gets a stable shape without internals.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _json(500, error_body("InternalError", "unexpected server error; the log has "
                                     "the details"))
