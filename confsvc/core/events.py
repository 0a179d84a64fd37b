"""Events, commands and principals: the plain data that crosses the core's boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confsvc.core.roles import Role


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """An event decided by the core, not yet stored (it has no seq)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A stored event: position ``seq`` in its conference's log (1-based)."""

    seq: int
    type: str
    at: float
    actor: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "at": self.at,
            "actor": self.actor,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who sends a command: a role, the site for site links, and the invite's id."""

    role: Role
    invite: str
    site: str | None = None
    name: str | None = None
    expert: str | None = None  # the expert's id, for expert links

    @property
    def actor(self) -> str:
        """What the event log records as the actor: role, site and invite id (no secret)."""
        base = self.role.value if self.site is None else f"{self.role.value}:{self.site}"
        return f"{base}/{self.invite}"


SYSTEM = Principal(role=Role.SYSTEM, invite="system")


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
