"""The environment_map setting: vendor environment names to environment + scope."""

from __future__ import annotations

from typing import Any

import pytest

from rollback_advisor.config import settings_from_dict
from rollback_advisor.environments import EnvironmentRules, environment_rules
from rollback_advisor.errors import InvalidInput

RULES = [
    {"match": "production/(?P<region>[a-z0-9-]+)", "environment": "production"},
    {"match": "prod-eu", "environment": "production", "scope": {"region": ["eu-west-1"]}},
    {"match": "(?P<environment>prod|staging)-(?P<cluster>[a-z]+)(-(?P<cell>\\d+))?"},
]


@pytest.mark.parametrize(("name", "expected"), [
    ("production/us-east-1", ("production", {"region": ("us-east-1",)})),
    ("staging-blue-7", ("staging", {"cell": ("7",), "cluster": ("blue",)})),
    ("prod-green", ("prod", {"cluster": ("green",)})),  # a group that matched nothing: left out
    ("prod-eu", ("production", {"region": ("eu-west-1",)})),  # first rule first
    ("production", ("production", None)),  # no rule matches the whole name: kept as is
    ("production/us-east-1/extra", ("production/us-east-1/extra", None)),
])
def test_first_rule_matching_the_whole_name_decides(name: str, expected: Any) -> None:
    assert environment_rules(RULES).apply(name) == expected


def test_default_is_no_mapping() -> None:
    settings = settings_from_dict({})
    assert settings.environment_map == EnvironmentRules()
    assert not settings.environment_map
    assert settings.environment_map.apply("production/us-east-1") == (
        "production/us-east-1", None)
    assert settings_from_dict({"environment_map": RULES}).environment_map.apply(
        "production/eu-west-1") == ("production", {"region": ("eu-west-1",)})


@pytest.mark.parametrize(("value", "key"), [
    ({"match": "x"}, "environment_map"),
    (["production"], "environment_map[0]"),
    ([{"environment": "production"}], "environment_map[0].match"),
    ([{"match": "prod(uction"}], "environment_map[0].match"),
    ([{"match": "p", "enviroment": "production"}], "environment_map[0].enviroment"),
    ([{"match": "p", "environment": ""}], "environment_map[0].environment"),
    ([{"match": "p", "scope": {"region": "  "}}], "environment_map[0].scope.region"),
])
def test_bad_rules_name_the_key(value: Any, key: str) -> None:
    with pytest.raises(InvalidInput) as err:
        settings_from_dict({"environment_map": value})
    assert err.value.field == key
