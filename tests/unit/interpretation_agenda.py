"""The sample agenda with an ``interpretation:`` section: three channels, a Polish booth
of two, an English booth of one (the relay zh→en→pl), shared by the interpretation tests."""

from __future__ import annotations

from confsvc.core.agenda import Agenda, parse_agenda
from confsvc.core.events import Principal
from confsvc.core.roles import Role
from tests.conftest import SAMPLE

SECTION = """
interpretation:
  channels: [zh, pl, en]
  interpreters:
    - {id: pl-booth-1, name: "Polish booth, first interpreter", into: pl, from: [zh, en]}
    - {id: pl-booth-2, name: "Polish booth, second interpreter", into: pl, from: [en]}
    - {id: en-booth-1, name: "English booth", into: en, from: [zh]}
"""

TEXT = SAMPLE.read_text(encoding="utf-8") + SECTION
AGENDA: Agenda = parse_agenda(TEXT)


def interpreter(ident: str) -> Principal:
    return Principal(role=Role.INTERPRETER, invite=f"inv-{ident}", interpreter=ident)


PL1, PL2, EN1 = interpreter("pl-booth-1"), interpreter("pl-booth-2"), interpreter("en-booth-1")
