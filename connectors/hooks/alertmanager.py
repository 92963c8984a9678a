"""Prometheus Alertmanager's webhook receiver (``webhook_config``), payload version 4.

Upstream: Alertmanager ``docs/configuration.md`` section ``<webhook_config>`` and
``notify/webhook/webhook.go`` (the body is ``{"version": "4", "groupKey", "truncatedAlerts"}``
plus the template data: ``receiver``, ``status``, ``alerts[]``, ``groupLabels``,
``commonLabels``, ``commonAnnotations``, ``externalURL``). Unknown keys are ignored.

Alertmanager cannot sign a body, so the hook's secret is a bearer credential: configure
``http_config: {authorization: {type: Bearer, credentials: <secret>}}``. One ``groupKey`` is one
incident; each alert (keyed by its fingerprint) fires or resolves on its own. The older
version 3 payloads (numeric ``groupKey``) are refused with a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from rollback_advisor.errors import InvalidInput

from .alerting import envelope_parsed
from .base import HookContext, Parsed, as_object, bearer, decode_json, same_secret


class AlertmanagerParser:
    """Alertmanager notifications, authenticated by ``Authorization: Bearer <secret>``."""

    name = "alertmanager"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        return same_secret(bearer(headers), secret)

    def parse(self, headers: Mapping[str, str], body: bytes, context: HookContext) -> Parsed:
        payload = decode_json(body)
        data = as_object(payload, "body")
        version = data.get("version")
        if version != "4":
            raise InvalidInput("version", version, 'Alertmanager webhook payload version "4" '
                               "(sent by every Alertmanager since 0.16); older formats are "
                               "not read")
        return envelope_parsed(payload, data, context, source=self.name, vendor="Alertmanager")
