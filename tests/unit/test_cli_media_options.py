"""``confsvc serve`` / ``confsvc demo``: --ice-timeout and --max-media-peers reach Config."""

from __future__ import annotations

from pathlib import Path

import pytest

from confsvc.cli.main import build_parser, config_from
from confsvc.config import Config

AGENDA = ["--agenda", "a.yaml"]


@pytest.mark.parametrize("command", [["serve", *AGENDA], ["demo"]])
def test_media_flags_reach_config(command: list[str]) -> None:
    args = build_parser().parse_args([*command, "--ice-timeout", "2.5", "--max-media-peers", "40"])
    cfg = config_from(args, [Path("a.yaml")])
    assert (cfg.ice_timeout_s, cfg.media_max_peers) == (2.5, 40)


@pytest.mark.parametrize("command", [["serve", *AGENDA], ["demo"]])
def test_media_flags_default_to_config_defaults(command: list[str]) -> None:
    cfg = config_from(build_parser().parse_args(command), [Path("a.yaml")])
    defaults = Config()
    assert (cfg.ice_timeout_s, cfg.media_max_peers) == (
        defaults.ice_timeout_s,
        defaults.media_max_peers,
    )


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--ice-timeout", "0", "must be a number above 0, not '0'"),
        ("--ice-timeout", "-3", "must be a number above 0, not '-3'"),
        ("--ice-timeout", "nan", "must be a number above 0, not 'nan'"),
        ("--ice-timeout", "soon", "not a number: 'soon'"),
        ("--max-media-peers", "0", "must be a whole number above 0, not '0'"),
        ("--max-media-peers", "-1", "must be a whole number above 0, not '-1'"),
        ("--max-media-peers", "2.5", "not a whole number: '2.5'"),
        ("--ice-server", "http://x", "must start with stun:, turn: or turns:: 'http://x'"),
        ("--ice-server", "turn://x", "write turn:HOST[:PORT], without //: 'turn://x'"),
        ("--ice-server", "turn:x:99999", "the port must be 1 to 65535: 'turn:x:99999'"),
        ("--turn-ttl", "0", "must be a whole number above 0, not '0'"),
    ],
)
@pytest.mark.parametrize("command", [["serve", *AGENDA], ["demo"]])
def test_bad_media_flag_is_refused_naming_the_flag(
    command: list[str], flag: str, value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, f"{flag}={value}"])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"confsvc {command[0]}: error: argument {flag}: {reason}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/j/t", ["127.0.0.1"]),
        ("http://localhost:8080/j/t", ["127.0.0.1"]),
        ("http://[::1]:8080/j/t", ["::1"]),
        ("https://confsvc.example.org/j/t", []),
    ],
)
def test_bots_offer_loopback_ice_addresses_to_a_loopback_server(
    url: str, expected: list[str]
) -> None:
    from confsvc.cli.media_cmd import _ice_for

    assert _ice_for(url, None) == expected
    assert _ice_for(url, ["10.0.0.5"]) == ["10.0.0.5"]
