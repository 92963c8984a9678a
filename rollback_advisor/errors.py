"""The error types every layer raises, so that CLI and HTTP can turn them into one clear line."""

from __future__ import annotations

from typing import Any


class AdvisorError(Exception):
    """Root of the errors a person can act on; `status_code` is what HTTP would answer."""

    status_code = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": type(self).__name__, "message": self.message, "details": self.details}


class InvalidInput(AdvisorError):
    """A value a user or a feed gave us is not what the contract expects."""

    status_code = 400

    def __init__(self, field: str, value: Any, expected: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(
            f"{field}: got {shown}, expected {expected}", field=field, expected=expected
        )
        self.field = field
        self.value = value
        self.expected = expected

    def within(self, prefix: str) -> InvalidInput:
        """Return the same error with its field path prefixed (``changes[3].at``)."""
        return InvalidInput(f"{prefix}.{self.field}" if self.field else prefix, self.value,
                            self.expected)


class NotFound(AdvisorError):
    """Something named by the user does not exist (a node, a hook, a file)."""

    status_code = 404


class Conflict(AdvisorError):
    """The request contradicts what is stored: e.g. an update to a change another source
    created (only its creator may rewrite it)."""

    status_code = 409

    def __init__(self, field: str, message: str, **details: Any) -> None:
        super().__init__(f"{field}: {message}", field=field, **details)
        self.field = field


class ConfigError(AdvisorError):
    """The configuration file or environment is wrong; the message names the key."""

    status_code = 500


class StoreError(AdvisorError):
    """The store could not be reached or migrated."""

    status_code = 503
