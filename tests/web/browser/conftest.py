"""Browser tests of the incident page: Debian's chromium driven by Playwright for Python, against
a real ``serve`` on a free loopback port (``tests/web/live_server.py``).

Playwright's own browser download is never used (``launch(executable_path=...)``): the system's
``chromium`` package is. Without it (or without playwright) the tests skip with the reason,
unless ROLLBACK_ADVISOR_REQUIRE_BROWSER=1 (``.ci/run`` sets it, after installing chromium):
then they fail. Screenshots of each page go to ``test-artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rollback_advisor.models import change_from_dict
from rollback_advisor.timeutil import format_utc
from rollback_advisor.web import create_app
from rollback_advisor.web.credentials import create_token
from rollback_advisor.web.services import services

from ..conftest import make_settings
from ..demo_incident import demo, load_demo
from ..live_server import LiveServer, live_serve

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("ROLLBACK_ADVISOR_CHROMIUM", "/usr/bin/chromium")


def _unavailable(reason: str) -> None:
    if os.environ.get("ROLLBACK_ADVISOR_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (ROLLBACK_ADVISOR_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@dataclass
class Site:
    server: LiveServer
    admin: str  # an admin token named "ana"
    read: str
    database: str

    @property
    def base(self) -> str:
        return self.server.base


@pytest.fixture(scope="module")
def site(tmp_path_factory: Any, chromium: str) -> Iterator[Site]:
    """The demo's store with its incident opened (#1), served by a real ``serve``."""
    tmp = tmp_path_factory.mktemp("page")
    settings = make_settings(tmp)
    assert settings.database_url
    load_demo(settings.database_url)
    app = create_app(settings)
    with app.app_context():
        svc = services()
        svc.incidents().open(demo().incident, title=demo().title)
        busy_incident(svc)
        admin = create_token(tables=svc.tables, scope="admin", name="ana")["token"]
        read = create_token(tables=svc.tables, scope="read", name="rui")["token"]
        svc.store.close()
    with live_serve(settings.database_url, tmp / "serve", workers=1) as server:
        yield Site(server, admin, read, settings.database_url)


BUSY = "busy"  # the environment of incident #2: 2,000 changes in its window


def busy_incident(svc: Any, changes: int = 2000) -> None:
    """Incident #2: the demo's incident in an environment of its own whose window holds
    ``changes`` generated changes on the demo graph's services, and the demo's culprit."""
    rng = random.Random(3)
    the = demo()
    onset = the.incident.started_at
    nodes = svc.advisor().graph().services()
    rows = [change_from_dict({"id": f"busy-{i}", "kind": rng.choice(["deploy", "config"]),
                              "service": rng.choice(nodes), "environment": BUSY,
                              "at": format_utc(onset - timedelta(seconds=rng.random() * 93_600)
                                               + timedelta(hours=2))})
            for i in range(changes)]
    culprit = svc.store.get_change(the.culprit)
    rows.append(dataclasses.replace(culprit, id=f"{BUSY}-{culprit.id}", environment=BUSY))
    svc.store.add_changes(rows)
    svc.incidents().open(dataclasses.replace(the.incident, environment=BUSY),
                         title="2,000 changes in the window")


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(base_url=site.base, viewport={"width": 1280, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    yield page
    context.close()


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """A screenshot under test-artifacts/screenshots/ (the folder made here): the whole page,
    or what the viewport shows."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Any, token: str, path: str = "/incidents/1") -> None:
    page.goto(path)
    assert "/signin" in page.url  # sent to sign in first
    page.fill("#token", token)
    page.click("form button[type=submit] >> text=Sign in")
    page.wait_for_url(f"**{path}")
