"""Times and durations as people type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollback_advisor.errors import InvalidInput
from rollback_advisor.timeutil import humanize, parse_duration, parse_rfc3339, parse_when

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("now", NOW), ("-15m", NOW - timedelta(minutes=15)), ("2h ago", NOW - timedelta(hours=2)),
    ("- 3d", NOW - timedelta(days=3)), ("2026-11-24T10:00:00Z", NOW - timedelta(hours=2)),
    ("2026-11-24T13:00:00+03:00", NOW - timedelta(hours=2)),
])
def test_parse_when(text: str, expected: datetime) -> None:
    """RFC 3339 and relative forms resolve against the given now."""
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize("text", ["2026-11-24T10:00:00", "soon", "-5 parsecs", "5m later"])
def test_parse_when_rejects(text: str) -> None:
    """Naive timestamps and unknown forms are refused with the accepted forms named."""
    with pytest.raises(InvalidInput):
        parse_when(text, NOW)


def test_durations() -> None:
    """Durations take units from seconds to weeks and must be positive."""
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration(30) == timedelta(seconds=30)
    for bad in ("0h", "-1h", "h", True):
        with pytest.raises(InvalidInput):
            parse_duration(bad)


def test_humanize_and_offset_requirement() -> None:
    """Short human durations; a naive datetime object is refused too."""
    assert humanize(timedelta(minutes=4)) == "4 min"
    assert humanize(timedelta(hours=2, minutes=5)) == "2 h 5 min"
    assert humanize(timedelta(days=3, hours=1)) == "3 d 1 h"
    with pytest.raises(InvalidInput, match="offset"):
        parse_rfc3339(datetime(2026, 1, 1))
