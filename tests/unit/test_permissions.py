"""What each principal may do: one table (confsvc/core/permissions.py), asked everywhere."""

from __future__ import annotations

import pytest

from confsvc.core.errors import Forbidden
from confsvc.core.events import Principal
from confsvc.core.permissions import (
    Permission,
    anonymous,
    may,
    may_run,
    may_translate,
    permissions,
    reads,
    require,
)
from confsvc.core.registry import RULES
from confsvc.core.roles import Invite, Role

W, P, S, INV = Permission.WATCH, Permission.PRESENT, Permission.STAFF, Permission.INVITE
TR = Permission.TRANSLATE
IP = Permission.INTERPRET

# role × permission, written out: a change to the rules shows up here as a diff.
TABLE = {
    Role.HOST: {W, S, INV, TR},
    Role.MODERATOR: {W, S, TR},
    Role.SITE: {W, P},
    Role.EXPERT: {W},
    Role.TRANSLATOR: {W, TR},
    Role.INTERPRETER: {W, IP},
    Role.PARTICIPANT: {W},
    Role.PUBLIC: set(),
    Role.SYSTEM: {S, INV, TR},
}
# The host records (Permission.RECORD, confsvc/core/recording.py).
TABLE[Role.HOST] = TABLE[Role.HOST] | {Permission.RECORD}


def _who(role: Role) -> Principal:
    return Principal(
        role=role,
        invite=f"{role.value}-1",
        site="olsztyn" if role is Role.SITE else None,
        interpreter="pl-booth-1" if role is Role.INTERPRETER else None,
    )


def test_the_table_covers_every_role() -> None:
    assert set(TABLE) == set(Role)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_role_has_exactly_the_permissions_of_the_table(role: Role, permission: Permission) -> None:
    assert may(_who(role), permission) is (permission in TABLE[role])


@pytest.mark.parametrize("role", list(Role))
def test_permissions_is_the_whole_row(role: Role) -> None:
    assert permissions(_who(role)) == frozenset(TABLE[role])


def test_a_site_link_without_a_site_presents_nothing() -> None:
    assert permissions(Principal(role=Role.SITE, invite="s")) == frozenset({W})


def test_an_interpreter_link_without_an_interpreter_interprets_nothing() -> None:
    assert permissions(Principal(role=Role.INTERPRETER, invite="i")) == frozenset({W})


def test_an_invite_is_asked_like_its_principal() -> None:
    invite = Invite(conference="c", role=Role.MODERATOR, site=None, expires=1, id="i-1")
    assert permissions(invite) == frozenset({W, S, TR})


def _translator(*languages: str) -> Principal:
    return Principal(role=Role.TRANSLATOR, invite="t-1", languages=languages)


def test_a_translator_translates_only_between_languages_they_read() -> None:
    zh_pl = _translator("zh", "pl")
    assert [reads(zh_pl, lang) for lang in ("zh", "pl", "en")] == [True, True, False]
    assert may_translate(zh_pl, "pl", "zh") is True
    assert may_translate(zh_pl, "zh", "pl") is True
    assert may_translate(zh_pl, "pl", "en") is False  # cannot write English
    assert may_translate(zh_pl, "en", "zh") is False  # cannot read English
    assert may_translate(zh_pl, "zh", "zh") is False  # not a translation


def test_a_translator_link_without_languages_and_staff_translate_between_any() -> None:
    anyone = [_translator(), _who(Role.MODERATOR), _who(Role.HOST), _who(Role.SYSTEM)]
    assert [may_translate(w, "en", "zh") for w in anyone] == [True] * 4


def test_only_translators_and_staff_read_at_the_desk() -> None:
    readers = [r for r in Role if reads(_who(r), "pl")]
    assert sorted(readers) == sorted([Role.HOST, Role.MODERATOR, Role.TRANSLATOR, Role.SYSTEM])


def test_require_raises_the_adapters_refusal_with_its_field() -> None:
    with pytest.raises(Forbidden) as caught:
        require(_who(Role.PARTICIPANT), P, "role participant may not publish", field="publish")
    assert (caught.value.message, caught.value.field) == (
        "role participant may not publish",
        "publish",
    )
    require(_who(Role.SITE), P, "never raised")  # allowed: returns


def test_only_the_public_is_anonymous() -> None:
    assert [r for r in Role if anonymous(_who(r))] == [Role.PUBLIC]


COMMANDS = sorted(RULES.commands)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("name", COMMANDS)
def test_the_rules_engine_refuses_exactly_what_may_run_refuses(role: Role, name: str) -> None:
    state = RULES.new_state("c-1")
    allowed = may_run(_who(role), RULES.commands[name].roles)
    if allowed:
        assert RULES.check_allowed(state, _who(role), name) is RULES.commands[name]
    else:
        with pytest.raises(Forbidden, match=f"^role '{role.value}' may not use '{name}'$"):
            RULES.check_allowed(state, _who(role), name)


def test_the_public_runs_no_command_and_the_host_runs_the_run_of_show() -> None:
    public = [n for n in COMMANDS if may_run(_who(Role.PUBLIC), RULES.commands[n].roles)]
    assert public == []
    assert may_run(_who(Role.HOST), RULES.commands["ros.start"].roles)
    assert not may_run(_who(Role.MODERATOR), RULES.commands["ros.start"].roles)
    assert not may_run(_who(Role.MODERATOR), RULES.commands["invite.record"].roles)
