"""What each principal may do: one table (confsvc/core/permissions.py), asked everywhere."""

from __future__ import annotations

import pytest

from confsvc.core.errors import Forbidden
from confsvc.core.events import Principal
from confsvc.core.permissions import Permission, anonymous, may, may_run, permissions, require
from confsvc.core.registry import RULES
from confsvc.core.roles import Invite, Role

W, P, S, INV = Permission.WATCH, Permission.PRESENT, Permission.STAFF, Permission.INVITE

# role × permission, written out: a change to the rules shows up here as a diff.
TABLE = {
    Role.HOST: {W, S, INV},
    Role.MODERATOR: {W, S},
    Role.SITE: {W, P},
    Role.EXPERT: {W},
    Role.PARTICIPANT: {W},
    Role.PUBLIC: set(),
    Role.SYSTEM: {S, INV},
}
# The host records (Permission.RECORD, confsvc/core/recording.py).
TABLE[Role.HOST] = TABLE[Role.HOST] | {Permission.RECORD}


def _who(role: Role) -> Principal:
    return Principal(
        role=role, invite=f"{role.value}-1", site="olsztyn" if role is Role.SITE else None
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


def test_an_invite_is_asked_like_its_principal() -> None:
    invite = Invite(conference="c", role=Role.MODERATOR, site=None, expires=1, id="i-1")
    assert permissions(invite) == frozenset({W, S})


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
