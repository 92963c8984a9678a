"""Connector tests never leave the machine: a socket may connect to loopback only."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

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
