"""The demo's data (rollback_advisor/demo) in a store of the tests' own, and its incident opened
as an incident record: what the incident page tests look at. Loaded by ``rollback-advisor demo``
itself, so the tests see what a new user sees."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from click.testing import CliRunner
from flask.testing import FlaskClient

from rollback_advisor.cli import cli
from rollback_advisor.models import Incident
from rollback_advisor.timeutil import parse_rfc3339


@dataclass(frozen=True)
class Demo:
    incident: Incident
    culprit: str
    title: str = "demo: ticket booking fails"


def demo() -> Demo:
    doc = yaml.safe_load((resources.files("rollback_advisor") / "demo" / "incident.yaml")
                         .read_text(encoding="utf-8"))
    incident = Incident(target=doc["target"], started_at=parse_rfc3339(doc["started_at"]),
                        environment=doc.get("environment", "production"))
    return Demo(incident, doc["expect"]["culprit"])


def load_demo(database: str) -> None:
    """``rollback-advisor demo`` into ``database``: the graph and the day's changes."""
    result = CliRunner().invoke(cli, ["--database", database, "demo", "--format", "json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, token: str, next_path: str = "/") -> Any:
    """Sign in through the form, as a browser does; the answer to the POST."""
    csrf = csrf_of(client.get("/signin").get_data(as_text=True))
    return client.post("/signin", data={"token": token, "csrf": csrf, "next": next_path})
