"""What a recordings directory holds (names the recorder writes, nothing else), signed
links, and ``confsvc recording list``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confsvc.cli.main import main
from confsvc.recording.files import (
    check_signature,
    find,
    list_files,
    parse_name,
    sign,
    signed_query,
)

CID = "weifang-olsztyn-2020"
PART = "take1-20200526T070000Z"


def make(root: Path) -> Path:
    d = root / CID
    d.mkdir(parents=True)
    for name, size in [
        (f"{PART}-warsaw.webm", 300),
        (f"{PART}-program.webm", 500),
        (f"{PART}-program.vtt", 40),
        (f"{PART}.json", 20),
        ("take2-20200526T090000Z-program.webm", 100),
        ("notes.txt", 5),  # not the recorder's: never listed or served
        ("take1-x-program.webm", 5),
    ]:
        (d / name).write_bytes(b"x" * size)
    return d


def test_the_listing_is_the_recorders_files_take_by_take_program_first(tmp_path: Path) -> None:
    make(tmp_path)
    got = [(f.take, f.source, f.kind, f.bytes) for f in list_files(tmp_path, CID)]
    assert got == [
        (1, "program", "webm", 500),
        (1, "program", "vtt", 40),
        (1, "warsaw", "webm", 300),
        (1, None, "json", 20),
        (2, "program", "webm", 100),
    ]
    assert list_files(tmp_path, "other-conference") == []


def test_only_recorder_names_are_found(tmp_path: Path) -> None:
    make(tmp_path)
    assert find(tmp_path, CID, f"{PART}-warsaw.webm") is not None
    assert find(tmp_path, CID, "notes.txt") is None
    assert find(tmp_path, CID, "../confsvc.secret") is None
    assert parse_name(f"{PART}-../x.webm") is None
    with pytest.raises(ValueError):
        list_files(tmp_path, "../etc")


def test_a_signed_link_checks_conference_name_and_expiry() -> None:
    secret = b"s" * 32
    query = dict(p.split("=") for p in signed_query(secret, CID, "a.webm", 1000.0).split("&"))
    assert check_signature(secret, CID, "a.webm", query["exp"], query["sig"], 1000.0) is None
    assert check_signature(secret, CID, "b.webm", query["exp"], query["sig"], 1000.0) == (
        "the link's signature is wrong"
    )
    assert check_signature(secret, "other", "a.webm", query["exp"], query["sig"], 1000.0)
    late = int(query["exp"]) + 1
    assert check_signature(secret, CID, "a.webm", query["exp"], query["sig"], late) == (
        "the link has expired: open the recordings page again for a new one"
    )
    assert sign(secret, CID, "a.webm", 5) != sign(b"t" * 32, CID, "a.webm", 5)


def test_the_cli_lists_a_conferences_recordings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path / "rec")
    monkeypatch.chdir(tmp_path)
    argv = ["recording", "list", "--conference", CID, "--recordings", str(tmp_path / "rec")]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in out["files"]][:2] == [f"{PART}-program.webm", f"{PART}-program.vtt"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("take 1  2020-05-26 07:00:00Z  program")
