"""rollback-advisor: which recent change most likely broke this endpoint, and what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import (
        Change,
        ChangeKind,
        ChangeStatus,
        Decision,
        Incident,
        Ranking,
        Recommendation,
    )

__version__ = "0.1.0"
__all__ = ["Change", "ChangeKind", "ChangeStatus", "Decision", "Incident", "Ranking",
           "Recommendation", "__version__"]


def __getattr__(name: str) -> Any:
    """The domain types, imported on first use: the command line's --help needs none of them
    (issue 11)."""
    if name in __all__:
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
