"""The documented-shape GitLab API answers (tests/fixtures/payloads/gitlab) on ``responses``.

Shared by the GitLab connector tests and the end-to-end sync test, so both read one history.
"""

from __future__ import annotations

import responses
from responses import matchers

from .vcs_fixtures import payload

URL = "https://gitlab.example.test"
API = f"{URL}/api/v4"
PROJECT = f"{API}/projects/shop%2Fcheckout"
DEPLOYMENTS = f"{API}/projects/4242/deployments"
COMPARE = f"{API}/projects/4242/repository/compare"


def merge_requests_url(deployment_id: int) -> str:
    return f"{API}/projects/4242/deployments/{deployment_id}/merge_requests"


def serve_history(mock: responses.RequestsMock, *, per_page: int = 100) -> None:
    """The project, three production deployments (two succeeded, one running), their merge
    requests and compares."""
    mock.get(PROJECT, json=payload("gitlab/project.json"))
    deployments = payload("gitlab/deployments.json")
    if per_page == 2:
        nxt = (f"{DEPLOYMENTS}?environment=production&order_by=updated_at&page=2&per_page=2"
               "&sort=asc&updated_after=2026-10-21T15%3A00%3A00Z")
        mock.get(DEPLOYMENTS, json=deployments[:2],
                 match=[matchers.query_param_matcher({
                     "environment": "production", "order_by": "updated_at", "sort": "asc",
                     "updated_after": "2026-10-21T15:00:00Z", "per_page": "2"})],
                 headers={"Link": f'<{nxt}>; rel="next"', "X-Next-Page": "2",
                          "X-Page": "1", "X-Per-Page": "2"})
        mock.get(DEPLOYMENTS, json=deployments[2:],
                 match=[matchers.query_param_matcher({"page": "2"}, strict_match=False)])
    else:
        mock.get(DEPLOYMENTS, json=deployments)
    mock.get(merge_requests_url(801), json=[])
    mock.get(merge_requests_url(802), json=payload("gitlab/deployment_merge_requests.json"))
    mock.get(COMPARE, json=payload("gitlab/compare.json"))
