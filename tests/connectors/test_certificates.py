"""The certificate connector against local TLS servers with trustme-made certificates."""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme

from connectors.base import Batch, ConnectorError
from connectors.certificates import CertificateConnector
from rollback_advisor.errors import ConfigError
from rollback_advisor.models import ChangeKind, change_from_dict

TlsServer = Callable[[trustme.LeafCert], AbstractContextManager[int]]

NOW = datetime.now(UTC).replace(microsecond=0)


def run(connector: CertificateConnector) -> list[Batch]:
    return list(connector.fetch(None, lambda message: None))


def make(port: int, **extra: Any) -> CertificateConnector:
    return CertificateConnector.from_config(
        {"hosts": [{"host": "127.0.0.1", "port": port, "node": "stripe-api",
                    "server_name": "api.example.test"}], **extra}, _Context(lambda: NOW))


class _Context:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now


def test_expired_certificate_is_a_change_at_its_expiry(ca: trustme.CA,
                                                       tls_server: TlsServer) -> None:
    """A certificate that expired yesterday is a certificate change at notAfter, irreversible,
    with the serial in its id."""
    expired_at = NOW - timedelta(days=1)
    cert = ca.issue_cert("api.example.test", not_before=NOW - timedelta(days=90),
                         not_after=expired_at)
    with tls_server(cert) as port:
        (batch,) = run(make(port))
    (change,) = batch.changes
    assert change.kind is ChangeKind.CERTIFICATE and change.services == ("stripe-api",)
    assert change.at == expired_at and change.reversible is False
    serial = change.details["serial"]
    assert change.id == f"certificates:127.0.0.1:{port}:{serial}"
    assert change.details["dns_names"] == ["api.example.test"]
    assert batch.cursor == {"hosts": {f"127.0.0.1:{port}": {
        "serial": serial, "not_after": change.details["not_after"]}}}
    assert change_from_dict(change.to_dict()).to_dict() == change.to_dict()


def test_certificate_expiring_soon_is_a_note_not_a_change(ca: trustme.CA,
                                                          tls_server: TlsServer) -> None:
    """Within warn_within the expiry is announced in the notes; nothing has changed yet."""
    cert = ca.issue_cert("api.example.test", not_after=NOW + timedelta(days=3))
    with tls_server(cert) as port:
        (batch,) = run(make(port, warn_within="14d"))
        (quiet,) = run(make(port, warn_within="2d"))
    assert batch.changes == [] and "expires in 3 d" in batch.notes[0]
    assert "stripe-api" in batch.notes[0]
    assert quiet.notes == [] and quiet.changes == []


def test_healthy_certificate_gives_nothing(ca: trustme.CA,
                                           tls_server: TlsServer) -> None:
    """trustme's default (far-future) certificate is neither a change nor a note."""
    with tls_server(ca.issue_cert("api.example.test")) as port:
        (batch,) = run(make(port))
    assert batch.changes == [] and batch.notes == []


def test_refused_connection_is_one_line_error() -> None:
    """A closed port is a ConnectorError naming host and port."""
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ConnectorError) as info:
        run(make(port))
    assert info.value.message == f"certificates: 127.0.0.1:{port} refused the connection"


def test_silent_server_times_out_as_one_line_error() -> None:
    """A server that accepts but never answers the handshake hits the timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(ConnectorError) as info:
            run(make(listener.getsockname()[1], timeout="0.3s"))
    finally:
        listener.close()
    assert "did not answer within 0.3 s" in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize(("section", "key"), [
    ({"hosts": [{"host": "a", "node": "n", "port": "443"}]},
     "connectors.certificates.hosts[0].port"),
    ({"hosts": [{"host": "a"}]}, "connectors.certificates.hosts[0].node"),
    ({"hosts": [{"host": "a", "node": "n"}], "warn_within": "soon"},
     "connectors.certificates.warn_within"),
    ({"hosts": [{"host": "a", "node": "n", "sni": "b"}]}, "connectors.certificates.hosts[0].sni"),
])
def test_bad_config_names_the_key(section: dict[str, Any], key: str) -> None:
    """Bad values and unknown keys name their full path."""
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        CertificateConnector.from_config(section, None)
