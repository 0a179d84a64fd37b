"""Parsing the IMAP responses the poller reads (as aioimaplib hands them over)."""

from __future__ import annotations

import pytest

from confsvc.mail.imap import ImapSettings, fetched_messages, search_uids


def test_search_uids_reads_both_shapes() -> None:
    assert search_uids([b"1 4 9", b"SEARCH completed"]) == [1, 4, 9]
    assert search_uids([b"SEARCH 2 3"]) == [2, 3]
    assert search_uids([b"", b"SEARCH completed"]) == []


def test_fetched_messages_pairs_the_literal_with_its_uid() -> None:
    raw = b"Subject: a\r\n\r\nbody\r\n"
    lines = [
        b"1 FETCH (UID 7 BODY[] {%d}" % len(raw),
        bytearray(raw),
        b")",
        b"2 FETCH (BODY[] {%d}" % len(raw),
        bytearray(raw),
        b" UID 9)",
        b"FETCH completed.",
    ]
    assert fetched_messages(lines) == [(7, raw), (9, raw)]


def test_a_truncated_literal_is_not_taken_for_a_message() -> None:
    assert fetched_messages([b"1 FETCH (UID 7 BODY[] {100}", bytearray(b"short")]) == []


def test_settings_from_url() -> None:
    s = ImapSettings.from_url("imaps://answers%40org.pl:p%40ss@imap.example.org/Odpowiedzi")
    assert (s.host, s.port, s.user, s.password, s.mailbox, s.ssl) == (
        "imap.example.org",
        993,
        "answers@org.pl",
        "p@ss",
        "Odpowiedzi",
        True,
    )
    with pytest.raises(ValueError, match="scheme"):
        ImapSettings.from_url("pop3://a@b")
