"""Reading replies: client styles, charsets, HTML-only, auto-replies, garbage in."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confsvc.mail.inbound import extract_answer, html_to_text, parse_mail
from tests.fixtures.mail.clients import CLIENTS, with_attachment

TO = "answers+q-1.aaaaaaaaaaaaaaaa@confsvc.localhost"


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_each_client_style_yields_exactly_the_answer(client: str) -> None:
    build, answer = CLIENTS[client]
    mail = parse_mail(build(to=TO, sender="Epi@Example.org", in_reply_to="<a@b>", answer=answer))
    assert mail.text == answer
    assert mail.sender == "epi@example.org"
    assert mail.auto is False
    assert TO in mail.recipients
    assert "<a@b>" in mail.references


def _single(body: bytes, charset: str, cte: str = "8bit") -> bytes:
    head = (
        f"From: x@example.org\r\nTo: {TO}\r\nSubject: t\r\nMessage-ID: <c@x>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode()
    return head + body


@pytest.mark.parametrize(
    ("text", "charset", "codec"),
    [
        ("Zażółć gęślą jaźń", "utf-8", "utf-8"),
        ("Zażółć gęślą jaźń", "iso-8859-2", "iso-8859-2"),
        ("Zażółć gęślą jaźń", "windows-1250", "windows-1250"),
        ("密切接触者需隔离", "gb2312", "gb2312"),
        ("潍坊市卫健委", "gb2312", "gbk"),  # 潍 is GBK-only: clients still label it GB2312
        ("潍坊 𠀀", "gb18030", "gb18030"),
        ("鏡 鏡", "gbk", "gbk"),
    ],
)
def test_charsets_are_decoded(text: str, charset: str, codec: str) -> None:
    mail = parse_mail(_single(text.encode(codec), charset))
    assert mail.text == text
    b64 = parse_mail(_single(base64.encodebytes(text.encode(codec)), charset, "base64"))
    assert b64.text == text


def test_unknown_charset_is_reported_and_still_read() -> None:
    mail = parse_mail(_single(b"plain answer", "x-nonsense-42"))
    assert mail.text == "plain answer"
    assert "unknown charset 'x-nonsense-42'" in mail.problems


def test_html_only_becomes_text_without_the_quote() -> None:
    html = (
        "<div>First line<br>Second &amp; last</div><script>alert(1)</script>"
        '<div class="gmail_quote">On Mon wrote:<blockquote>old</blockquote></div>'
    )
    assert extract_answer(html_to_text(html)) == "First line\nSecond & last"


def test_attachments_are_listed_with_size_and_hash() -> None:
    mail = parse_mail(
        with_attachment(to=TO, sender="a@b.org", in_reply_to="<x@y>", answer="See PDF")
    )
    assert mail.text == "See PDF"
    [att] = mail.attachments
    assert (att["filename"], att["content_type"], att["size"]) == (
        "guidelines.pdf",
        "application/pdf",
        400,
    )
    assert len(att["sha256"]) == 64


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied",
        "Precedence: bulk",
        "List-Id: <covid.lists.example.org>",
        "X-Autoreply: yes",
    ],
)
def test_auto_replies_and_list_mail_are_flagged(headers: str) -> None:
    raw = f"From: a@b.org\r\nTo: {TO}\r\n{headers}\r\nSubject: away\r\n\r\nAway.\r\n".encode()
    assert parse_mail(raw).auto is True


def test_mail_from_mailer_daemon_or_null_sender_is_auto() -> None:
    raw = f"From: MAILER-DAEMON@mx.example.org\r\nTo: {TO}\r\n\r\nfailed\r\n".encode()
    assert parse_mail(raw).auto is True
    plain = f"From: a@b.org\r\nTo: {TO}\r\n\r\nhi\r\n".encode()
    assert parse_mail(plain, mail_from="").auto is True
    assert parse_mail(plain, mail_from="a@b.org").auto is False


def test_an_answer_that_is_all_quote_keeps_the_full_text() -> None:
    raw = f"From: a@b.org\r\nTo: {TO}\r\n\r\n> only a quote\r\n".encode()
    assert parse_mail(raw).text == "> only a quote"


def test_missing_message_id_gets_one_from_the_content() -> None:
    raw = f"From: a@b.org\r\nTo: {TO}\r\n\r\nhi\r\n".encode()
    a, b = parse_mail(raw), parse_mail(raw)
    assert a.message_id == b.message_id
    assert a.message_id.startswith("<sha256.")
    assert parse_mail(raw + b"x").message_id != a.message_id


def test_inline_answers_between_quotes_are_kept() -> None:
    text = "> Question one?\nYes.\n> Question two?\nNo.\n"
    assert extract_answer(text) == "Yes.\nNo."


def test_signature_and_mobile_footer_are_cut() -> None:
    assert extract_answer("Answer.\n\n-- \nDr Li\nWeifang") == "Answer."
    assert extract_answer("Odpowiedź.\n\nWysłane z iPhone'a") == "Odpowiedź."
    assert extract_answer("回答。\n\n发自我的iPhone") == "回答。"
    assert extract_answer("Answer.\n\nPozdrawiam,\nJan Kowalski") == "Answer."


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_garbage_never_raises(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert mail.message_id.startswith("<")
    assert isinstance(mail.text, str)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: a@b.org\r\n",
                b"Content-Type: multipart/mixed; boundary=zz\r\n",
                b"Content-Type: text/html; charset=gb2312\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Transfer-Encoding: quoted-printable\r\n",
                b"\r\n",
                b"--zz\r\n",
                b"--zz--\r\n",
                b"=?utf-8?b?////?=\r\n",
                b"Subject: =?gb2312?q?=A1=A2?=\r\n",
                b"<p>x</p><blockquote>y\r\n",
                b"\xff\xfe\x00\r\n",
                b"Message-ID: <\r\n",
            ]
        ),
        max_size=40,
    )
)
def test_mime_shaped_garbage_never_raises(lines: list[bytes]) -> None:
    mail = parse_mail(b"".join(lines))
    assert isinstance(mail.problems, list)


def test_an_encoded_display_name_cannot_smuggle_in_another_sender() -> None:
    raw = (
        "From: =?utf-8?q?epidemiology=40weifang-health.example.org_=3Cepidemiology=40"
        "weifang-health.example.org=3E?= <attacker@evil.example>\r\n"
        f"To: {TO}\r\nSubject: =?gb2312?B?u9i4tKO6zsrM4g==?=\r\n\r\nhi\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert mail.sender == "attacker@evil.example"
    assert "epidemiology@weifang-health.example.org" in mail.sender_name
    assert mail.subject == "回复：问题"


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_subjects_and_names_are_decoded(client: str) -> None:
    build, answer = CLIENTS[client]
    mail = parse_mail(build(to=TO, sender="a@b.org", in_reply_to="<a@b>", answer=answer))
    expected = {
        "chinese_gbk": ("回复：问题 q-1", "潍坊卫健委"),
        "thunderbird_pl": ("Re: Pytanie do odpowiedzi pisemnej [q-1]", "Jan Kowalski"),
        "gmail": ("Re: Question for a written answer [q-1]", "Epidemiology"),
        "outlook": ("RE: Question for a written answer [q-1]", "Dr Li"),
        "html_only": ("Re: Question", ""),
    }
    assert (mail.subject, mail.sender_name) == expected[client]
    assert mail.problems == []


def test_rfc2047_encoded_attachment_names_are_decoded() -> None:
    name = "=?gbk?b?" + base64.b64encode("防控方案.docx".encode("gbk")).decode() + "?="
    raw = (
        "From: wang@example.cn\r\nTo: answers@confsvc.localhost\r\nSubject: re\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n见附件。\r\n"
        f'--b\r\nContent-Type: application/octet-stream; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert [a["filename"] for a in mail.attachments] == ["防控方案.docx"]
