"""A deploy of a version that was live before the current one is a rollback (issue #10).

CI rarely says so: the rollback is a deploy job run with an older version. Spotting it matters
twice: the engine weighs a rollback less as a suspect, and the policy must not advise rolling
"back" to the version just left. One pure rule, applied by the store wherever changes are
written (hook deliveries, sync, import), so no connector decides it on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .models import Change, ChangeKind

HISTORY = 50
"""How many earlier live versions of a service the rule looks back over."""


def may_be_redeploy(change: Change) -> bool:
    """Whether ``change`` needs its history looked up: a deploy of a known version to one
    service."""
    return (change.kind is ChangeKind.DEPLOY and change.version is not None
            and len(change.services) == 1 and not change.is_global)


def as_rollback(change: Change, live_before: Sequence[str | None]) -> Change:
    """``change`` as a rollback when its version was live before the current one.

    ``live_before``: the versions of the service's earlier succeeded deploys and rollbacks in
    the same environment, newest first (the first is what is live when ``change`` starts).
    An unknown current version, or a redeploy of the current one, leaves the change as is.
    """
    if not may_be_redeploy(change) or len(live_before) < 2:
        return change
    current = live_before[0]
    if current is None or current == change.version or change.version not in live_before[1:]:
        return change
    note = f"{change.version} was live before {current}: a deploy back to it is a rollback"
    return dataclasses.replace(
        change, kind=ChangeKind.ROLLBACK,
        previous_version=change.previous_version or current,
        details={**dict(change.details), "redeploy": note})
