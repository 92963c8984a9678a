"""A connector module whose vendor library is not installed."""

from __future__ import annotations

import rollback_advisor_no_such_vendor_library  # noqa: F401


class Ghost:  # pragma: no cover - never importable
    pass
