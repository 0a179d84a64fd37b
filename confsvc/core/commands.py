"""A part's command table, written one command at a time beside its decider.

``Part.commands`` (``confsvc.core.conference``) is a mapping of name to ``CommandSpec``;
``CommandTable`` builds that mapping with a decorator, so a command's name, argument
model, roles and doc are written once, where its rule is::

    COMMANDS = CommandTable()

    @COMMANDS.command("q.ask", AskArgs, roles=ASKERS, doc="Ask a question.")
    def _ask(state, args, who, now): ...

    PART = Part(name="questions", init=..., commands=COMMANDS.specs, ...)

Not for checking roles or arguments: ``Rules.decide`` does that once, for every part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from confsvc.core.conference import Args, CommandSpec
from confsvc.core.roles import Role

D = TypeVar("D", bound=Callable[..., Any])


class CommandTable:
    """Name → ``CommandSpec``, filled by ``@table.command(...)``, in registration order."""

    def __init__(self) -> None:
        self.specs: dict[str, CommandSpec] = {}

    def add(self, name: str, spec: CommandSpec) -> None:
        if name in self.specs:
            raise ValueError(f"command {name!r} is registered twice")
        self.specs[name] = spec

    def command(
        self, name: str, args: type[Args], *, roles: frozenset[Role], doc: str
    ) -> Callable[[D], D]:
        """Register the decorated decider ``(state, args, who, now) -> events`` as ``name``."""

        def register(decide: D) -> D:
            self.add(name, CommandSpec(roles=roles, args=args, decide=decide, doc=doc))
            return decide

        return register
