"""Blueprint ``pages``: the incident page for people (DESIGN §8), server-rendered with Jinja.

``/`` lists open and recent incidents and asks an ad-hoc question; ``/incidents/<id>`` shows
an incident's advice (decision first, timeline, dependency paths, suspects with every reason,
history, verdict buttons, the Slack text). No JavaScript is needed: the one script only copies
the Slack text to the clipboard, which the text area beside it also offers. Errors here are
HTML pages in one shape (``error.html``), not the API's JSON.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from ..errors import AdvisorError
from ..incidents import incident_number
from ..timeutil import format_utc
from ..verdicts import VerdictKind, verdict_kind
from .errors import Forbidden, Unauthorized
from .page_auth import (
    Viewer,
    check_csrf,
    check_link,
    csrf_token,
    exchange_link,
    page_key,
    sign_in,
    sign_out,
    viewer,
)
from .page_view import PageView, age, answer_view, incident_view, relative
from .services import services

bp = Blueprint("pages", __name__)
log = logging.getLogger("rollback_advisor.web")

OPEN = 100  # open incidents listed
RECENT = 20  # resolved incidents listed under the open ones
MAX_NODES = 5000  # graph nodes offered for completion
_SPLIT = re.compile(r"[\n,]+")


@bp.before_request
def _keyed() -> None:
    page_key(services())  # NotConfigured (404 page) on PostgreSQL without a server key


@bp.after_request
def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; form-action 'self'")
    return response


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "age": age, "utc": format_utc, "relative": relative}


@bp.errorhandler(AdvisorError)
def _advisor_error(exc: AdvisorError) -> tuple[str, int]:
    return _error_page(exc.status_code, type(exc).__name__, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    return _error_page(exc.code or 500, exc.name or "Error", exc.description or "")


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[str, int]:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _error_page(500, "InternalError", "")


def _error_page(status: int, code: str, message: str) -> tuple[str, int]:
    if status >= 500:
        log.error("%s %s: %s %s", request.method, request.path, code, message)
        message = "the server could not show this page; its log says why"
    return render_template("error.html", status=status, code=code, message=message,
                           me=_who()), status


def _who() -> Viewer | None:
    try:
        return viewer()
    except AdvisorError:
        return None


def _reader() -> Viewer | None:
    """The signed-in viewer; None when anyone may read (server.read_auth false)."""
    me = viewer()
    if me is None and services().settings.server.read_auth:
        raise Unauthorized("sign in with an API token to see this page")
    return me


def _admin() -> Viewer:
    me = viewer()
    if me is None:
        raise Unauthorized("sign in with an admin token to give a verdict")
    if not me.admin:
        raise Forbidden(f"giving a verdict needs an admin token; you signed in with a "
                        f"{me.scope} token")
    return me


def _signin_redirect() -> Any:
    if viewer() is None and services().settings.server.read_auth:
        return redirect(url_for("pages.signin", next=request.full_path.rstrip("?")))
    return None


# -- signing in -------------------------------------------------------------------------------

@bp.get("/signin")
def signin() -> Any:
    return render_template("signin.html", next=_safe_next(request.args.get("next")),
                           me=viewer())


@bp.post("/signin")
def signin_post() -> Any:
    check_csrf(request.form)
    try:
        sign_in(request.form.get("token", ""))
    except (Unauthorized, Forbidden) as exc:
        return render_template("signin.html", next=_safe_next(request.form.get("next")),
                               error=exc.message, me=None), 401
    return redirect(_safe_next(request.form.get("next")))


@bp.get("/signin/once/<code>")
def signin_once(code: str) -> Any:
    check_link(code)  # shown, not spent: previews and prefetches only GET
    return render_template("signin_once.html", code=code,
                           next=_safe_next(request.args.get("next")), me=viewer())


@bp.post("/signin/once/<code>")
def signin_once_post(code: str) -> Any:
    check_csrf(request.form)
    exchange_link(code)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/signout")
def signout() -> Any:
    check_csrf(request.form)
    sign_out()
    flash("signed out")
    return redirect(url_for("pages.signin"))


def _safe_next(value: str | None) -> str:
    """Only a path on this site (no scheme, no host, not ``//evil``)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return url_for("pages.index")
    parts = urlsplit(value)
    return url_for("pages.index") if parts.scheme or parts.netloc else value


# -- pages -------------------------------------------------------------------------------------

@bp.get("/")
def index() -> Any:
    if (go := _signin_redirect()) is not None:
        return go
    return _index(_reader())


def _index(me: Viewer | None, *, asked: Any = None, error: str | None = None,
           status: int = 200) -> Any:
    """The list of incidents and the question form (with what was asked and why it could not
    be answered, after a question that failed)."""
    svc = services()
    tables = svc.incidents().tables
    rows = [*tables.list(status="open", limit=OPEN), *tables.list(status="resolved",
                                                                  limit=RECENT)]
    latest = tables.latest_advice([r.id for r in rows])
    try:
        nodes = sorted(svc.advisor().graph().g.nodes)[:MAX_NODES]
    except AdvisorError:
        nodes = []
    return render_template("index.html", me=me, incidents=rows, latest=latest, nodes=nodes,
                           asked=asked or {}, error=error,
                           environment=svc.settings.environment), status


@bp.get("/incidents/<incident_id>")
def incident(incident_id: str) -> Any:
    if (go := _signin_redirect()) is not None:
        return go
    me = _reader()
    svc = services()
    record = svc.incidents().tables.get(incident_number(incident_id))
    return render_template("incident.html", me=me, view=incident_view(svc, record))


@bp.post("/incidents/<incident_id>/verdicts")
def give_verdict(incident_id: str) -> Any:
    check_csrf(request.form)
    me = _admin()
    number = incident_number(incident_id)
    kind = verdict_kind(request.form.get("verdict"))
    change = request.form.get("change") or None
    if kind is VerdictKind.NO_CHANGE:
        change = None
    stored = services().verdicts().record(number, change=change, verdict=kind, by=me.name,
                                          note=request.form.get("note") or None)
    flash(f"recorded: {stored[0].change or 'no change'} {stored[0].verdict.value}")
    return redirect(url_for("pages.incident", incident_id=number, _anchor="suspects"))


@bp.post("/ask")
def ask() -> Any:
    check_csrf(request.form)
    me = _reader()
    form = request.form
    data: MultiDict[str, str] = MultiDict()
    for key in ("target", "at", "environment"):
        if form.get(key, "").strip():
            data[key] = form[key].strip()
    for key, name in (("symptoms", "symptom"), ("scope", "scope")):
        for word in _SPLIT.split(form.get(key, "")):
            if word.strip():
                data.add(name, word.strip())
    svc = services()
    try:
        advice = svc.advise_request(data)
    except AdvisorError as exc:
        if exc.status_code >= 500:
            raise
        return _index(me, asked=form, error=exc.message, status=exc.status_code)
    view: PageView = answer_view(svc, advice)
    return render_template("incident.html", me=me, view=view)
