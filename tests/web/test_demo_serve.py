"""``rollback-advisor demo --serve`` (issue #9): one command, and the printed one-time link
opens the demo's incident page in a browser session; the link then no longer works. Run as a
real process on a loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import requests

from .demo_incident import csrf_of, demo
from .live_server import free_port


def test_demo_serve_prints_a_one_time_link_to_the_incident_page(tmp_path):
    port = free_port()
    env = {**os.environ, "ROLLBACK_ADVISOR_DATA_DIR": str(tmp_path)}
    env.pop("ROLLBACK_ADVISOR_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "rollback_advisor.cli", "demo", "--serve",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while not any("sign in" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, lines
            lines.append(proc.stdout.readline())
        link = re.search(r"(http://127\.0\.0\.1:(\d+)/signin/once/\S+)", "".join(lines))
        assert link and int(link.group(2)) == port
        assert (tmp_path / "demo.db").exists()  # the demo's own store, not the user's
        with requests.Session() as browser:
            shown = browser.get(link.group(1), timeout=10)  # a button: opening spends nothing
            assert shown.status_code == 200
            page = browser.post(link.group(1), timeout=10, data={
                "csrf": csrf_of(shown.text), "next": re.search(
                    r'name="next" value="([^"]*)"', shown.text).group(1)})
        assert page.status_code == 200 and page.url.endswith("/incidents/1")
        assert "Roll back" in page.text and demo().culprit in page.text
        assert "HttpOnly" in str(page.history[0].headers.get("Set-Cookie"))
        assert requests.get(link.group(1), timeout=10).status_code == 401  # once only
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            proc.stdout.close()
