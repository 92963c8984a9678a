"""The shared contract: registry, signatures, header lookup, vendor times and robustness."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.hooks import PARSERS, HookParser, Parsed, parse_vendor_time, parser_for, sign
from connectors.hooks.base import header
from rollback_advisor.errors import InvalidInput

from .helpers import FIXTURES, ctx, fixture

VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_registry() -> None:
    assert set(PARSERS) == {"generic", "github", "gitlab", "cdevents", "pagerduty",
                            "alertmanager", "grafana", "pagerduty-incidents"}
    for name, parser in PARSERS.items():
        assert isinstance(parser, HookParser)
        assert parser.name == name
        assert parser_for(name) is parser
    with pytest.raises(InvalidInput, match="one of generic, github"):
        parser_for("bitbucket")


def test_github_published_vector() -> None:
    """docs.github.com's example: our HMAC matches, in GitHub's header and in our own."""
    github = parser_for("github")
    assert github.verify({"X-Hub-Signature-256": VECTOR_SIGNATURE}, VECTOR_BODY, VECTOR_SECRET)
    assert sign(VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGNATURE
    for name in ("generic", "cdevents", "pagerduty"):
        assert parser_for(name).verify({"x-rollback-advisor-signature": VECTOR_SIGNATURE},
                                       VECTOR_BODY, VECTOR_SECRET)


@pytest.mark.parametrize("headers", [
    {}, {"X-Hub-Signature-256": ""}, {"X-Hub-Signature-256": VECTOR_SIGNATURE[:-1] + "0"},
    {"X-Hub-Signature-256": VECTOR_SIGNATURE.replace("sha256=", "sha1=")},
    {"X-Hub-Signature-256": VECTOR_SIGNATURE.removeprefix("sha256=")},
    {"X-Hub-Signature": VECTOR_SIGNATURE}, {"X-Hub-Signature-256": "sha256=ünïcode"}])
def test_wrong_or_missing_github_signatures(headers: dict[str, str]) -> None:
    assert not parser_for("github").verify(headers, VECTOR_BODY, VECTOR_SECRET)


def test_signatures_bind_body_and_secret() -> None:
    for name in ("github", "generic", "cdevents", "pagerduty"):
        parser = parser_for(name)
        key = "X-Hub-Signature-256" if name == "github" else "X-Rollback-Advisor-Signature"
        signed = {key: VECTOR_SIGNATURE}
        assert not parser.verify(signed, VECTOR_BODY + b" ", VECTOR_SECRET)
        assert not parser.verify(signed, VECTOR_BODY, VECTOR_SECRET + "x")
        assert not parser.verify(signed, VECTOR_BODY, "")  # an empty secret never verifies


def test_gitlab_token() -> None:
    gitlab = parser_for("gitlab")
    assert gitlab.verify({"x-gitlab-token": "s3cret"}, b"{}", "s3cret")
    assert not gitlab.verify({"X-Gitlab-Token": "s3cre"}, b"{}", "s3cret")
    assert not gitlab.verify({"X-Gitlab-Token": "ünï"}, b"{}", "s3cret")
    assert not gitlab.verify({}, b"{}", "s3cret")
    assert not gitlab.verify({"X-Gitlab-Token": ""}, b"{}", "")


def test_header_lookup_is_case_insensitive_for_dicts_and_werkzeug_headers() -> None:
    assert header({"x-github-event": "ping"}, "X-GitHub-Event") == "ping"
    assert header({"X-GITHUB-EVENT": " ping "}, "x-github-event") == "ping"
    assert header({}, "X-GitHub-Event") is None
    datastructures = pytest.importorskip("werkzeug.datastructures")
    headers = datastructures.Headers([("X-Hub-Signature-256", VECTOR_SIGNATURE)])
    assert parser_for("github").verify(headers, VECTOR_BODY, VECTOR_SECRET)


@pytest.mark.parametrize(("value", "expected"), [
    ("2021-04-28 21:50:00 +0200", datetime(2021, 4, 28, 19, 50, tzinfo=UTC)),
    ("2016-08-12 15:23:28 UTC", datetime(2016, 8, 12, 15, 23, 28, tzinfo=UTC)),
    ("2015-07-17T08:42:58.315+0000", datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)),
    ("2023-03-20T14:27:05.315384123Z", datetime(2023, 3, 20, 14, 27, 5, 315384, tzinfo=UTC)),
    ("2019-05-15T15:20:53Z", datetime(2019, 5, 15, 15, 20, 53, tzinfo=UTC)),
    ("2020-10-31T14:58:32+11:00", datetime(2020, 10, 31, 3, 58, 32, tzinfo=UTC)),
    ("2021-04-28T21:50:00-05", datetime(2021, 4, 29, 2, 50, tzinfo=UTC)),
    (1557933653, datetime(2019, 5, 15, 15, 20, 53, tzinfo=UTC))])
def test_vendor_times(value: Any, expected: datetime) -> None:
    parsed = parse_vendor_time(value, "at")
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize("value", ["2021-04-28 21:50:00", "2021-04-28T21:50:00",
                                   "yesterday", "", None, True, "2021-02-30 10:00:00 UTC",
                                   datetime(2021, 1, 1), 1e300])
def test_vendor_times_never_guess(value: Any) -> None:
    """Naive or unreadable times are InvalidInput naming the field, never a guess."""
    with pytest.raises(InvalidInput) as err:
        parse_vendor_time(value, "status_changed_at")
    assert err.value.field == "status_changed_at"


_HEADERS = {"github": {"X-GitHub-Event": "deployment"},
            "gitlab": {"X-Gitlab-Event": "Deployment Hook"}, "generic": {}, "cdevents": {},
            "pagerduty": {}, "alertmanager": {}, "grafana": {}, "pagerduty-incidents": {}}


@pytest.mark.parametrize("source", sorted(PARSERS))
@pytest.mark.parametrize("body", [b"{not json", b"", b"   ", b"\xff\xfe\x00", b"[" * 5000,
                                  b"null", b"[1, 2]", b'"deploy"'])
def test_malformed_bodies_raise_invalid_input_only(source: str, body: bytes) -> None:
    try:
        result = parser_for(source).parse(_HEADERS[source], body, ctx(source))
    except InvalidInput:
        return
    assert isinstance(result, Parsed) and (result.changes == [] and result.ignored)


_ALERT_FUZZ = [
    ("alertmanager", "alertmanager-webhook-prometheus-msteams/card-grafana-inspired-payload.json"),
    ("grafana", "grafana-alerting-webhook-zulip/alert-9-mixed.json"),
    ("pagerduty-incidents", "pagerduty-webhooks-v3-zulip/triggered_v3.json")]


@pytest.mark.parametrize(("source", "path"), _ALERT_FUZZ, ids=[p for _, p in _ALERT_FUZZ])
def test_alert_payloads_with_wrong_types_raise_invalid_input_only(source: str, path: str
                                                                   ) -> None:
    payload = json.loads((FIXTURES.parent / "alerts" / path).read_bytes())
    parser, context = parser_for(source), ctx(source)
    for mutated in _mutations(payload):
        with contextlib.suppress(InvalidInput):
            parser.parse({}, json.dumps(mutated).encode(), context)


def _mutations(value: Any, depth: int = 0):
    """Copies of ``value`` with one field (up to two levels deep) given a wrong type."""
    if not isinstance(value, dict) or depth > 1:
        return
    for key in list(value):
        for wrong in (None, 7, "x", [], {}, True):
            yield {**value, key: wrong}
        for inner in _mutations(value[key], depth + 1):
            yield {**value, key: inner}


_FUZZ = [("github", "github-webhooks-octokit/deployment_status/payload.json",
          {"X-GitHub-Event": "deployment_status"}),
         ("github", "github-webhooks-octokit/release/published.payload.json",
          {"X-GitHub-Event": "release"}),
         ("github", "github-webhooks-octokit/workflow_run/completed.payload.json",
          {"X-GitHub-Event": "workflow_run"}),
         ("gitlab", "gitlab-webhooks-go-gitlab/deployment.json",
          {"X-Gitlab-Event": "Deployment Hook"}),
         ("gitlab", "gitlab-webhooks-go-gitlab/pipeline.json", {"X-Gitlab-Event": "Pipeline Hook"}),
         ("gitlab", "gitlab-webhooks-go-gitlab/release.json", {"X-Gitlab-Event": "Release Hook"}),
         ("cdevents", "cdevents-spec-v0.5.1/examples/service_deployed.json", {})]


@pytest.mark.parametrize(("source", "path", "headers"), _FUZZ, ids=[p for _, p, _ in _FUZZ])
def test_wrongly_typed_fields_raise_invalid_input_only(source: str, path: str,
                                                       headers: dict[str, str]) -> None:
    """Real payloads with any one field's type broken: a Parsed or InvalidInput, nothing else."""
    assert (FIXTURES / path).is_file()
    payload = json.loads(fixture(path))
    parser, context = parser_for(source), ctx(source, environment=None)
    for mutated in _mutations(payload):
        with contextlib.suppress(InvalidInput):
            parser.parse(headers, json.dumps(mutated).encode(), context)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "kind", "service", "at", "payload", "context",
                                       "subject", "deployment", "repository", "project",
                                       "status", "changes", "data", "type", "event"]),
                      children, max_size=5),
    max_leaves=20)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(sorted(PARSERS)), payload=_json)
def test_arbitrary_json_raises_invalid_input_only(source: str, payload: Any) -> None:
    try:
        result = parser_for(source).parse(_HEADERS[source], json.dumps(payload).encode(),
                                          ctx(source))
    except InvalidInput:
        return
    assert isinstance(result, Parsed)


def test_package_is_pure() -> None:
    """connectors/hooks and the normalisers they share with sync (connectors/objects) import
    only the core's pure models/errors/timeutil/environments/alerts and the stdlib."""
    allowed = ("rollback_advisor.models", "rollback_advisor.errors", "rollback_advisor.timeutil",
               "rollback_advisor.environments", "rollback_advisor.alerts")
    root = Path(__file__).resolve().parents[3] / "connectors"
    modules = [*(root / "hooks").glob("*.py"), *(root / "objects").glob("*.py")]
    assert len(modules) > 6
    for module in modules:
        for line in module.read_text().splitlines():
            words = line.split()
            if line.startswith(("import ", "from ")) and words[1].startswith("rollback_advisor"):
                assert words[1] in allowed, f"{module.name}: {line}"
            assert not (line.startswith(("import ", "from ")) and words[1].split(".")[0] in
                        ("flask", "werkzeug", "requests", "sqlalchemy")), line
