"""``rollback-advisor demo --serve``: the demo's incident opened as an incident record and its
page served on loopback, with a one-time sign-in link printed, so a new user sees the page in
one command (issue #9).

Flask's own server (werkzeug, threaded) on 127.0.0.1: one person looking at a demo needs no
gunicorn. The link signs in once with an admin session (verdict buttons included), then it is
dead; run the command again for a new one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from werkzeug.serving import make_server

from ..config import Settings
from ..models import Incident
from ..store.incidents import IncidentRecord
from .page_auth import signin_link
from .services import Services, services


def demo_incident(svc: Services, incident: Incident, title: str) -> IncidentRecord:
    """The demo's incident as a stored record: the open one from an earlier run, else a new
    one (opened by hand, advised at once)."""
    tables = svc.incidents().tables
    for record in tables.list(status="open", limit=500):
        s = record.state
        if (s.target, s.started_at, s.environment, record.title) == (
                incident.target, incident.started_at, incident.environment, title):
            return record
    return svc.incidents().open(incident, title=title)


def serve_demo(settings: Settings, database: str, incident: Incident, *, title: str,
               port: int = 0, echo: Callable[[str], None] = print) -> None:
    """Serve the pages on 127.0.0.1:``port`` (0: a free one) until interrupted."""
    from . import create_app

    app = create_app(dataclasses.replace(settings, database_url=database))
    server = make_server("127.0.0.1", port, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    with app.test_request_context(base_url=base):
        svc = services()
        record = demo_incident(svc, incident, title)
        link = signin_link(svc, base, scope="admin")
    echo(f"incident #{record.id} opened from the demo: {base}/incidents/{record.id}")
    echo(f"sign in (works once): {link}?next=/incidents/{record.id}")
    echo("serving on 127.0.0.1 only; Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        svc.store.close()
