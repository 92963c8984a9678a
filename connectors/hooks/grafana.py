"""Grafana Alerting's webhook contact point (unified alerting, Grafana 9 and later).

Upstream: Grafana's "Configure webhook notifications" page (body keys: the Alertmanager ones
plus ``orgId``, ``state``, ``title``, ``message``; per alert ``silenceURL``, ``dashboardURL``,
``panelURL``, ``values``) and its "HMAC signature" section: with a secret configured, Grafana
sends the lowercase hex HMAC-SHA256 of the body in ``X-Grafana-Alerting-Signature`` (the
default header name), or of ``<unix seconds>:<body>`` when a timestamp header is configured,
the timestamp then travelling in that header. We read the timestamp from
``X-Grafana-Alerting-Signature-Timestamp`` (configure that name). Without HMAC, Grafana's
``Authorization`` header (scheme Bearer, the hook's secret as credentials) authenticates.

One ``groupKey`` is one incident, as for Alertmanager; the payload ``version`` is Grafana's own
("1") and is not checked.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from .alerting import envelope_parsed
from .base import (
    HookContext,
    Parsed,
    as_object,
    bearer,
    decode_json,
    header,
    same_secret,
)

SIGNATURE = "X-Grafana-Alerting-Signature"
TIMESTAMP = "X-Grafana-Alerting-Signature-Timestamp"


def grafana_signature(body: bytes, secret: str, timestamp: str | None = None) -> str:
    """What Grafana sends in ``X-Grafana-Alerting-Signature`` for ``body``."""
    message = (timestamp.encode("ascii") + b":" + body) if timestamp else body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


class GrafanaParser:
    """Grafana notifications: HMAC-signed, or ``Authorization: Bearer <secret>``."""

    name = "grafana"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        given = header(headers, SIGNATURE)
        if given is not None:
            stamp = header(headers, TIMESTAMP)
            if stamp is not None and not stamp.isdigit():
                return False
            return same_secret(given.lower(), grafana_signature(body, secret, stamp))
        return same_secret(bearer(headers), secret)

    def parse(self, headers: Mapping[str, str], body: bytes, context: HookContext) -> Parsed:
        payload = decode_json(body)
        data = as_object(payload, "body")
        return envelope_parsed(payload, data, context, source=self.name, vendor="Grafana")
