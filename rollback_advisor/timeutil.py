"""Timestamps and durations as people and feeds write them.

Stored and compared times are always timezone-aware UTC: a naive timestamp is ambiguous by hours,
which is the very figure the engine reasons on, so the contract rejects it instead of guessing.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from .errors import InvalidInput

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w)\s*$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60, "h": 3600,
                 "hr": 3600, "hrs": 3600, "d": 86400, "day": 86400, "days": 86400,
                 "w": 604800}
_RELATIVE = re.compile(r"^\s*(?:-\s*(?P<a>.+?)|(?P<b>.+?)\s+ago)\s*$")

# Times and durations the service accepts: wide enough for any real change or incident, narrow
# enough that a window or an offset never leaves what datetime can hold (a 500 before).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
MAX_DURATION = timedelta(days=3660)
_RANGE = "a time from 1970-01-01T00:00:00Z to 2999-12-31T23:59:59Z"


def to_utc(dt: datetime, field: str, value: object = None) -> datetime:
    """An aware datetime in UTC, or InvalidInput when it lies outside EARLIEST..LATEST."""
    try:
        utc = dt.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(field, dt if value is None else value, _RANGE) from None
    if not EARLIEST <= utc <= LATEST:
        raise InvalidInput(field, dt if value is None else value, _RANGE)
    return utc


def parse_rfc3339(value: object, field: str = "time") -> datetime:
    """Parse an RFC 3339 timestamp that carries an offset; return it in UTC."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(field, value, "an RFC 3339 timestamp such as "
                               "2026-11-20T14:05:00Z") from None
    else:
        raise InvalidInput(field, value, "an RFC 3339 timestamp string")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidInput(field, value, "a timestamp with a UTC offset (add Z or +00:00)")
    return to_utc(dt, field, value)


def parse_duration(value: object, field: str = "duration") -> timedelta:
    """Parse ``90m``, ``24h``, ``2d`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value.lower())):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise InvalidInput(field, value, "a duration such as 15m, 24h or 2d")
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput(field, value, "a positive duration")
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidInput(field, value, f"a duration of at most {MAX_DURATION.days}d")
    return timedelta(seconds=seconds)


def parse_when(value: object, now: datetime, field: str = "time") -> datetime:
    """Parse what a person types for a time: RFC 3339, ``now``, ``-15m`` or ``2h ago``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "now":
            return now
        m = _RELATIVE.match(text)
        if m:
            part = m.group("a") or m.group("b")
            try:
                return now - parse_duration(part, field)
            except InvalidInput as exc:  # a duration out of range says so; others get usage
                raise InvalidInput(field, value, exc.expected if _DURATION.match(part) else
                                   "an RFC 3339 timestamp, 'now', '-15m' or '2h ago'") from None
    return parse_rfc3339(value, field)


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_utc(dt: datetime) -> str:
    """RFC 3339 in UTC with a Z, seconds precision: the form every output uses."""
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def humanize(delta: timedelta) -> str:
    """``4 min``, ``2 h 5 min``, ``3 d``: short enough for a Slack line."""
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        return f"{int(round(seconds))} s"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
