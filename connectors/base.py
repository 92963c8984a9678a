"""What every connector promises, one small interface per capability.

A connector reads one vendor or database and yields DESIGN §1 change events in batches, each with
the cursor to save once the batch is stored, so that ``sync`` stores a batch and its cursor in one
transaction: a crash between batches loses nothing and duplicates nothing, and the next run asks
only for what is new.

Connectors depend on ``rollback_advisor.models`` and ``rollback_advisor.errors`` only; vendor
libraries are imported inside the connector module, and a missing one raises
``ConnectorUnavailable`` (skipped unless the config names that connector explicitly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rollback_advisor.errors import AdvisorError
from rollback_advisor.models import Change

Cursor = Mapping[str, Any]
Progress = Callable[[str], None]


class ConnectorError(AdvisorError):
    """A vendor or database answered with an error; the message is one line a person can act
    on (which source, what failed, what to check)."""

    status_code = 502
    fatal = False  # set when the whole source must stop (bad credentials, rate limit wait)


class ConnectorUnavailable(ConnectorError):
    """The connector's library is not installed, or its config is incomplete."""

    status_code = 503


@dataclass(frozen=True)
class Batch:
    """Changes fetched together, and the cursor that is true once they are stored."""

    changes: list[Change]
    cursor: dict[str, Any]
    skipped: int = 0  # records seen but not turned into changes (wrong environment, ...)
    notes: list[str] = field(default_factory=list)  # things a person should know


@runtime_checkable
class ChangeSource(Protocol):
    """The shape shared by every capability: fetch what is new since ``cursor``."""

    name: str

    def fetch(self, cursor: Cursor | None, progress: Progress) -> Iterator[Batch]:
        """Yield batches of changes newer than ``cursor`` (None = first sync), oldest first."""
        ...


class DeploySource(ChangeSource, Protocol):
    """Deploys, releases and the merged changes behind them (GitHub, GitLab)."""


class MigrationSource(ChangeSource, Protocol):
    """Schema migrations applied to an application database."""


class ProviderSource(ChangeSource, Protocol):
    """An external provider's incidents, status changes and changelog entries."""


class CertificateSource(ChangeSource, Protocol):
    """TLS certificate expiries of configured hosts."""
