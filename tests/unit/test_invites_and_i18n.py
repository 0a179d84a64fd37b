"""Signed invites, language choice, and the access log's redaction of tokens."""

from __future__ import annotations

import pytest

from confsvc.core.errors import BadRequest
from confsvc.core.roles import InviteError, Role, issue_invite, verify_invite
from confsvc.http.accesslog import redact
from confsvc.i18n import pick_language

SECRET = b"s" * 48


def test_invite_round_trip_keeps_every_field() -> None:
    invite, token = issue_invite(
        SECRET, conference="c-1", role=Role.SITE, site="weifang", name="潍坊会场", now=1000.0
    )
    back = verify_invite(SECRET, token, now=1001.0)
    assert back == invite
    assert (back.role, back.site, back.name) == (Role.SITE, "weifang", "潍坊会场")


def test_invite_signed_with_another_secret_is_refused() -> None:
    _, token = issue_invite(SECRET, conference="c", role=Role.HOST, now=0.0)
    with pytest.raises(InviteError, match="signature"):
        verify_invite(b"t" * 48, token, now=1.0)


def test_changing_the_payload_breaks_the_signature() -> None:
    _, host = issue_invite(SECRET, conference="c", role=Role.PARTICIPANT, now=0.0)
    _payload, sig = host.split(".")
    _, other = issue_invite(SECRET, conference="c", role=Role.HOST, now=0.0)
    with pytest.raises(InviteError, match="signature"):
        verify_invite(SECRET, other.split(".")[0] + "." + sig, now=1.0)


def test_expired_invite_is_refused() -> None:
    _, token = issue_invite(SECRET, conference="c", role=Role.HOST, now=0.0, ttl_s=10)
    assert verify_invite(SECRET, token, now=10.0).role is Role.HOST
    with pytest.raises(InviteError, match="expired"):
        verify_invite(SECRET, token, now=11.0)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 3000, "!!!.???"])
def test_garbage_tokens_get_invite_error(token: str) -> None:
    with pytest.raises(InviteError):
        verify_invite(SECRET, token, now=0.0)


def test_site_invite_needs_a_site_and_others_refuse_one() -> None:
    with pytest.raises(BadRequest):
        issue_invite(SECRET, conference="c", role=Role.SITE, now=0.0)
    with pytest.raises(BadRequest):
        issue_invite(SECRET, conference="c", role=Role.HOST, site="x", now=0.0)
    with pytest.raises(BadRequest):
        issue_invite(SECRET, conference="c", role=Role.PUBLIC, now=0.0)


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ("pl", "zh-CN", "pl"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "de-DE,de;q=0.9,pl;q=0.5,en;q=0.4", "pl"),
        (None, "en;q=0.2, pl;q=0.8", "pl"),
        ("xx", "fr", "en"),
        (None, None, "en"),
        (None, "garbage;q=x", "en"),
    ],
)
def test_language_from_query_then_accept_language(
    query: str | None, accept: str | None, expected: str
) -> None:
    assert pick_language(query, accept) == expected


def test_access_log_never_shows_tokens() -> None:
    line = "GET /j/eyJhbGciOi.sig123?lang=pl HTTP/1.1 GET /c/x/ws?t=abc.def&lang=en /j/tok/report"
    out = redact(line)
    assert "eyJhbGciOi" not in out and "abc.def" not in out and "tok" not in out
    assert out == "GET /j/***?lang=pl HTTP/1.1 GET /c/x/ws?t=***&lang=en /j/***/report"
