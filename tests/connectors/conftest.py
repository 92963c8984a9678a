"""Connector tests never leave the machine: a socket may connect to loopback only.

Also the fixtures several connector test modules share: a ``responses`` mock that insists every
registered answer is asked for, a trustme CA, and loopback TLS servers presenting its
certificates (the certificate connector's tests and the end-to-end sync test).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import responses
import trustme

_real_connect = socket.socket.connect


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX path
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse any connection that is not to this machine, so a missing mock fails loudly
    instead of reaching GitHub or GitLab."""

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise OSError(f"tests must not use the network (tried to connect to {address!r})")
        return _real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    """Recorded API answers; an answer registered but never asked for fails the test, so a
    test also proves which requests a sync spends."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """One throwaway CA for every certificate a test issues (making one costs a key pair)."""
    return trustme.CA()


@contextmanager
def _serve_tls(cert: trustme.LeafCert) -> Iterator[int]:
    """A loopback TLS server presenting ``cert``; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


@pytest.fixture
def tls_server() -> Callable[[trustme.LeafCert], AbstractContextManager[int]]:
    """``with tls_server(cert) as port:`` serves ``cert`` on 127.0.0.1:port for the block."""
    return _serve_tls
