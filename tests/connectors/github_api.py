"""The recorded GitHub Enterprise API answers (tests/fixtures/payloads/github) on ``responses``.

Shared by the GitHub connector tests and the end-to-end sync test, so both read one history.
"""

from __future__ import annotations

import re

import responses
from responses import matchers

from .vcs_fixtures import payload

API = "https://github.example.test/api/v3"
# PyGithub spells the default port out in every request URL it sends.
WIRE = "https://github.example.test:443/api/v3"
REPO = f"{WIRE}/repos/acme/checkout"
DEPLOYMENTS = f"{REPO}/deployments"
COMPARE = re.compile(rf"{WIRE}/repos/(?i:acme/checkout)/compare/.+")


def statuses_url(deployment_id: int) -> re.Pattern[str]:
    return re.compile(rf"{WIRE}/repos/(?i:acme/checkout)/deployments/{deployment_id}/statuses")


def serve_history(mock: responses.RequestsMock, *, last: str = "statuses_in_progress.json",
                  per_page: int = 100, compare: bool = True) -> None:
    """Three production deployments (success, failure, then ``last``) and their compares."""
    deployments = payload("github/deployments.json")
    if per_page == 2:
        nxt = f"{API}/repositories/1/deployments?environment=production&per_page=2&page=2"
        mock.get(DEPLOYMENTS, json=deployments[:2],
                 match=[matchers.query_param_matcher({"environment": "production",
                                                      "per_page": "2"})],
                 headers={"Link": f'<{nxt}>; rel="next", <{nxt}>; rel="last"'})
        mock.get(f"{WIRE}/repositories/1/deployments", json=deployments[2:],
                 match=[matchers.query_param_matcher({"environment": "production",
                                                      "per_page": "2", "page": "2"})])
    else:
        mock.get(DEPLOYMENTS, json=deployments)
    mock.get(statuses_url(5001), json=payload("github/statuses_success.json"))
    mock.get(statuses_url(5002), json=payload("github/statuses_failure.json"))
    mock.get(statuses_url(5003), json=payload(f"github/{last}"))
    if compare:
        mock.get(COMPARE, json=payload("github/compare.json"))
