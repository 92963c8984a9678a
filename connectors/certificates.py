"""TLS certificate expiries of configured hosts, fetched by ``ssl``, parsed by ``cryptography``.

Upstream: https://docs.python.org/3/library/ssl.html (``getpeercert(binary_form=True)``) and
https://cryptography.io/en/latest/x509/reference/ (``load_der_x509_certificate``).

The peer certificate is fetched *without* verification (``CERT_NONE``): verification would
refuse exactly the expired certificate we want to read. An expired certificate is a change at
the moment it expired (DESIGN §4): ``at`` = notAfter, ``reversible: false`` (time does not run
back; the fix is a new certificate), id ``certificates:<host>:<port>:<serial hex>``, so the
same expiry seen by every later sync is stored once. A certificate expiring within
``warn_within`` is not a change yet; it is reported in ``Batch.notes``.

Cursor: ``{"hosts": {"<host>:<port>": {"serial": "<hex>", "not_after": "<RFC 3339>"}}}``, what
each host presented last time (informational; ids make re-reporting harmless).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.base import Batch, ConnectorError, ConnectorUnavailable, Cursor, Progress
from connectors.config import duration, entries, optional_text, required_text, settings
from rollback_advisor.errors import ConfigError
from rollback_advisor.models import DEFAULT_ENVIRONMENT, Change, ChangeKind
from rollback_advisor.timeutil import format_utc, humanize, utc_now

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
except ImportError as _missing:  # pragma: no cover - a core dependency
    raise ConnectorUnavailable("cryptography is not installed: pip install cryptography",
                               library="cryptography") from _missing


@dataclass(frozen=True)
class HostConfig:
    """One TLS endpoint to watch and the graph node its certificate belongs to."""

    host: str
    node: str
    port: int = 443
    server_name: str | None = None  # SNI, when it differs from host (an IP, a load balancer)
    environment: str = DEFAULT_ENVIRONMENT


@dataclass(frozen=True)
class CertificatesConfig:
    """The validated ``connectors.certificates`` section."""

    hosts: tuple[HostConfig, ...]
    warn_within: timedelta = timedelta(days=14)
    timeout: timedelta = timedelta(seconds=10)


_HOST_KEYS = {"host", "port", "node", "server_name", "environment"}


def parse_config(raw: Mapping[str, Any],
                 prefix: str = "connectors.certificates") -> CertificatesConfig:
    """Validate a raw section; a ConfigError names the key, e.g. ``...hosts[0].port``."""
    raw = settings(prefix, raw, {"hosts", "warn_within", "timeout"})
    hosts = []
    for where, item in entries(prefix, raw, "hosts", _HOST_KEYS):
        host, node = (required_text(where, item, key) for key in ("host", "node"))
        port = item.get("port", 443)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ConfigError(f"{where}.port: got {port!r}, expected a port number")
        server_name = optional_text(where, item, "server_name")
        environment = optional_text(where, item, "environment", DEFAULT_ENVIRONMENT)
        hosts.append(HostConfig(host=host, node=node, port=port, server_name=server_name,
                                environment=str(environment)))
    return CertificatesConfig(hosts=tuple(hosts),
                              warn_within=duration(prefix, raw, "warn_within", "14d"),
                              timeout=duration(prefix, raw, "timeout", "10s"))


FetchCertificate = Callable[[HostConfig, float], bytes]


def fetch_der(host: HostConfig, timeout: float) -> bytes:
    """The DER certificate the host presents, unverified (an expired one is the point)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host.host, host.port), timeout=timeout) as sock, \
            context.wrap_socket(sock, server_hostname=host.server_name or host.host) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    return der


class CertificateConnector:
    """Report expired certificates as changes and soon-expiring ones as notes."""

    name = "certificates"

    def __init__(self, config: CertificatesConfig | Mapping[str, Any], *,
                 fetch: FetchCertificate = fetch_der, now: Callable[[], datetime] = utc_now,
                 name: str = "certificates") -> None:
        self.name = name
        self.config = (config if isinstance(config, CertificatesConfig)
                       else parse_config(config, f"connectors.{name}"))
        self._fetch = fetch
        self._now = now

    @classmethod
    def from_config(cls, section: Mapping[str, Any], context: Any = None, *,
                    name: str = "certificates") -> CertificateConnector:
        """Build from a raw config section; ``context.now`` is the clock."""
        return cls(parse_config(section, f"connectors.{name}"),
                   now=getattr(context, "now", utc_now), name=name)

    def fetch(self, cursor: Cursor | None, progress: Progress) -> Iterator[Batch]:
        """One batch per host: its expiry as a change if past, a note if near."""
        seen: dict[str, Any] = dict((cursor or {}).get("hosts") or {})
        for host in self.config.hosts:
            where = f"{host.host}:{host.port}"
            progress(f"{self.name}: checking {where}")
            cert = self._certificate(host)
            serial = format(cert.serial_number, "x")
            not_after = cert.not_valid_after_utc
            seen[where] = {"serial": serial, "not_after": format_utc(not_after)}
            now = self._now()
            changes, notes = [], []
            if not_after <= now:
                changes.append(self._change(host, cert, serial))
            elif not_after - now <= self.config.warn_within:
                notes.append(f"certificate of {where} ({host.node}) expires in "
                             f"{humanize(not_after - now)}, at {format_utc(not_after)}")
            yield Batch(changes=changes, cursor={"hosts": dict(seen)}, notes=notes)

    def _certificate(self, host: HostConfig) -> x509.Certificate:
        where = f"{host.host}:{host.port}"
        try:
            der = self._fetch(host, self.config.timeout.total_seconds())
        except TimeoutError as err:
            raise ConnectorError(f"{self.name}: {where} did not answer within "
                                 f"{self.config.timeout.total_seconds():g} s") from err
        except ConnectionRefusedError as err:
            raise ConnectorError(f"{self.name}: {where} refused the connection") from err
        except ssl.SSLError as err:
            raise ConnectorError(f"{self.name}: TLS handshake with {where} failed: "
                                 f"{err.reason or err}") from err
        except OSError as err:
            raise ConnectorError(f"{self.name}: cannot connect to {where}: "
                                 f"{err.strerror or err}") from err
        try:
            return x509.load_der_x509_certificate(der)
        except ValueError as err:
            raise ConnectorError(f"{self.name}: {where} sent a certificate that cannot be "
                                 f"parsed: {err}") from err

    def _change(self, host: HostConfig, cert: x509.Certificate, serial: str) -> Change:
        subject = cert.subject.rfc4514_string()
        return Change(
            id=f"certificates:{host.host}:{host.port}:{serial}", kind=ChangeKind.CERTIFICATE,
            services=(host.node,), at=cert.not_valid_after_utc, environment=host.environment,
            reversible=False, source=self.name,
            summary=f"TLS certificate of {host.host}:{host.port} expired ({subject})",
            details={"host": host.host, "port": host.port,
                     "server_name": host.server_name or host.host, "subject": subject,
                     "issuer": cert.issuer.rfc4514_string(), "serial": serial,
                     "not_before": format_utc(cert.not_valid_before_utc),
                     "not_after": format_utc(cert.not_valid_after_utc),
                     "sha256": cert.fingerprint(hashes.SHA256()).hex(),
                     "dns_names": _dns_names(cert)})


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in ext.value.get_values_for_type(x509.DNSName)]
