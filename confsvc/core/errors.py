"""One error base for the core, with a status hint for the adapters.

``BadRequest``: the caller sent something wrong (bad field, wrong state, no permission).
``Conflict``: somebody else changed the conference first. ``Internal``: we did.
"""

from __future__ import annotations

from typing import Any, Self

from confsvc.core.error_codes import describe, english, template_fields


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"
    status_hint = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.key = key
        self.params = params or {}

    @classmethod
    def keyed(cls, key: str, /, *, field: str | None = None, **params: object) -> Self:
        """The error that ``key`` names (``confsvc.core.error_codes.TEMPLATES``), its
        English sentence made from the key's template and ``params``: how the core raises
        (``raise InvalidState.keyed("ros.not_now", action=name, status=status)``), so a
        page translates the key it was raised with, never a sentence matched back."""
        if field is not None and "field" in template_fields(key):
            params = {"field": field, **params}  # "{field} must be a string": the same one
        texts = {name: str(value) for name, value in params.items()}
        return cls(english(key, params), field=field, key=key, params=texts)

    def as_dict(self) -> dict[str, Any]:
        """``code``: the kind (bad_request, invalid_state, …); ``message``: the English
        sentence; ``key`` and ``params``: the same sentence for a page to translate
        (confsvc/core/error_codes.py): the raise site's key, or, for a sentence raised
        without one, the key its template matches."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.key is not None:
            out["key"], out["params"] = self.key, self.params
            return out
        described = describe(self.message)
        if described is not None:
            out["key"], out["params"] = described
        return out


class BadRequest(DomainError):
    code = "bad_request"
    status_hint = 400


class InvalidState(BadRequest):
    """The command does not apply in the current state (names command and state)."""

    code = "invalid_state"
    status_hint = 409


class Stale(InvalidState):
    """The command was decided on a state that has changed since (another host pressed
    next first): the message says what changed. Not sent again by clients: the actor
    looks at the new state and decides again."""

    code = "stale"
    status_hint = 409


class Forbidden(DomainError):
    code = "forbidden"
    status_hint = 403


class NotFound(DomainError):
    code = "not_found"
    status_hint = 404


class Conflict(DomainError):
    """Another writer won: re-read and decide again."""

    code = "conflict"
    status_hint = 409


class RateLimited(DomainError):
    code = "rate_limited"
    status_hint = 429


class Internal(DomainError):
    """We failed (a bug, or something we depend on broke). The message says no more than
    that; the details go to the log, never to the client."""

    code = "internal"
    status_hint = 500


class Unavailable(DomainError):
    """This node cannot take the command now (it is shutting down, or its store is down
    or too slow): send it again, with the same idempotency key, after ``retry_after``
    seconds."""

    code = "unavailable"
    status_hint = 503

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        retry_after: float | None = None,
        key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, field=field, key=key, params=params)
        self.retry_after = retry_after

    @classmethod
    def keyed(cls, key: str, /, *, field: str | None = None, **params: object) -> Self:
        """As ``DomainError.keyed``; a ``retry_after`` (seconds) among the params is the
        error's own, not the message's."""
        retry_after = params.pop("retry_after", None)
        err = super().keyed(key, field=field, **params)
        err.retry_after = float(retry_after) if isinstance(retry_after, int | float) else None
        return err

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out
