"""Symptoms and scope as responders type them: ``cart@-12m``, ``region=us-east-1``.

The CLI options, the API's query string and body, and the slash command all read an incident's
other failing nodes and its scope through these functions, so the same words mean the same
thing everywhere and a bad one is refused with the field (or option) named. Pure: the caller
passes the clock.

A symptom is ``NODE`` or ``NODE@TIME``. Node names may themselves contain ``@`` (an endpoint
such as ``api:GET /users/@me``), so the text is split on its *last* ``@`` only when what follows
is a time (RFC 3339, ``now``, ``-15m``, ``2h ago``). What follows an ``@`` that starts like a
time (a digit, ``-``, ``+``) or is empty must then be one, or the input is refused: a typo in a
time must not silently become a node name. Without a time a symptom takes the incident's onset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .errors import InvalidInput
from .models import Scope, Symptom, scope_from_dict, symptoms_from_list
from .timeutil import parse_when

MAX_SYMPTOMS = 100
"""More failing nodes than this is a page of the whole estate, not evidence; it also bounds
what one request can make the engine do."""

_TIME_LIKE = re.compile(r"^\s*(?:[-+]?\d|-|$)")
_SYMPTOM_FORM = "NODE or NODE@TIME, TIME as RFC 3339, 'now', '-15m' or '2h ago'"


def split_symptom(text: str, now: datetime, field: str) -> tuple[str, datetime | None]:
    """``cart@-12m`` -> (``cart``, now - 12 min); ``cart`` -> (``cart``, None)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(field, text, _SYMPTOM_FORM)
    node, sep, when = text.rpartition("@")
    if not sep:
        return text.strip(), None
    try:
        at = parse_when(when, now, field)
    except InvalidInput as exc:
        if _TIME_LIKE.match(when):
            raise InvalidInput(field, text, exc.expected if when.strip() else
                               "a time after the @ (" + _SYMPTOM_FORM + ")") from None
        return text.strip(), None  # an @ inside the node's own name
    if not node.strip():
        raise InvalidInput(field, text, "a node name before the @ (" + _SYMPTOM_FORM + ")")
    return node.strip(), at


def symptoms_from_texts(texts: Iterable[str], *, onset: datetime, now: datetime,
                        field: str) -> tuple[Symptom, ...]:
    """Repeated ``NODE[@TIME]`` values (CLI options, query parameters, slash-command words)."""
    items: list[dict[str, Any]] = []
    for text in texts:
        node, at = split_symptom(text, now, field)
        items.append({"node": node, "started_at": at})
    _check_count(items, field)
    return symptoms_from_list(items, field, default_onset=onset)


def symptoms_from_body(value: object, *, onset: datetime, now: datetime,
                       field: str = "symptoms") -> tuple[Symptom, ...]:
    """A JSON ``[{node, started_at?}, ...]`` whose times may be relative like ``at``'s."""
    if isinstance(value, list):
        _check_count(value, field)
        value = [_with_absolute_time(item, now, f"{field}[{i}]") for i, item in enumerate(value)]
    return symptoms_from_list(value, field, default_onset=onset)


def _with_absolute_time(item: object, now: datetime, where: str) -> object:
    if isinstance(item, dict) and isinstance(item.get("started_at"), str):
        return {**item, "started_at": parse_when(item["started_at"], now, f"{where}.started_at")}
    return item


def _check_count(items: list[Any], field: str) -> None:
    if len(items) > MAX_SYMPTOMS:
        raise InvalidInput(field, f"{len(items)} symptoms", f"at most {MAX_SYMPTOMS}")


def scope_from_texts(texts: Iterable[str], field: str) -> Scope | None:
    """Repeated ``LABEL=VALUE``; repeating a label adds values (``region=a region=b``)."""
    pairs: dict[str, list[str]] = {}
    for text in texts:
        label, sep, value = text.partition("=") if isinstance(text, str) else ("", "", "")
        if not sep or not label.strip() or not value.strip():
            raise InvalidInput(field, text, "LABEL=VALUE, e.g. region=us-east-1")
        pairs.setdefault(label.strip(), []).append(value.strip())
    return scope_from_dict(pairs, field) if pairs else None

