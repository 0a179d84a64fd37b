"""``confsvc serve`` / ``confsvc demo``: --ice-server, --turn-ttl, --turn-username and the
TURN secrets from the environment reach Config; bad values are refused naming the flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from confsvc.cli.main import build_parser, config_from, main
from confsvc.config import Config, ConfigError

AGENDA = ["--agenda", "a.yaml"]
COMMANDS = [["serve", *AGENDA], ["demo"]]
TURN = "turn:turn.example.org:3478"
STUN = "stun:stun.example.org:3478"


def cfg_of(argv: list[str], env: dict[str, str]) -> Config:
    return config_from(build_parser().parse_args(argv), [Path("a.yaml")], env)


@pytest.mark.parametrize("command", COMMANDS)
def test_servers_and_secret_reach_config(command: list[str]) -> None:
    argv = [*command, "--ice-server", STUN, "--ice-server", TURN, "--turn-ttl", "3600"]
    cfg = cfg_of(argv, {"CONFSVC_TURN_SECRET": "shh"})
    assert cfg.ice_servers == [{"urls": STUN}, {"urls": TURN}]
    assert (cfg.turn_secret, cfg.turn_ttl_s, cfg.turn_username) == ("shh", 3600, None)


@pytest.mark.parametrize("command", COMMANDS)
def test_static_user_reaches_config(command: list[str]) -> None:
    argv = [*command, "--ice-server", TURN, "--turn-username", "confsvc"]
    cfg = cfg_of(argv, {"CONFSVC_TURN_PASSWORD": "pw"})
    assert (cfg.turn_username, cfg.turn_password, cfg.turn_secret) == ("confsvc", "pw", None)


@pytest.mark.parametrize("command", COMMANDS)
def test_defaults_contact_no_server(command: list[str]) -> None:
    cfg = cfg_of(command, {"CONFSVC_TURN_SECRET": "shh"})
    assert (cfg.ice_servers, cfg.turn_secret, cfg.turn_ttl_s) == ([], None, 86400)


def test_stun_alone_needs_no_credentials() -> None:
    assert cfg_of(["demo", "--ice-server", STUN], {}).ice_servers == [{"urls": STUN}]


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (
            ["--ice-server", TURN],
            {},
            f"--ice-server {TURN}: a TURN server needs credentials: set CONFSVC_TURN_SECRET "
            "(coturn use-auth-secret) or turn_secret_file, or give --turn-username with "
            "CONFSVC_TURN_PASSWORD or turn_password_file",
        ),
        (
            ["--ice-server", TURN, "--turn-username", "u"],
            {},
            "--turn-username needs its password in CONFSVC_TURN_PASSWORD or turn_password_file",
        ),
        (
            ["--ice-server", TURN, "--turn-username", "u"],
            {"CONFSVC_TURN_SECRET": "s", "CONFSVC_TURN_PASSWORD": "p"},
            "--turn-username and CONFSVC_TURN_SECRET exclude each other: use the secret for "
            "coturn's use-auth-secret, the user for a static account",
        ),
        (
            ["--ice-server", STUN, "--turn-username", "u"],
            {"CONFSVC_TURN_PASSWORD": "p"},
            "--turn-username needs a turn: or turns: --ice-server",
        ),
    ],
)
def test_missing_or_clashing_credentials_are_refused(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        cfg_of(["demo", *argv], env)
    assert str(info.value) == message


def test_command_stops_with_exit_1_and_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("CONFSVC_TURN_SECRET", raising=False)
    monkeypatch.delenv("CONFSVC_TURN_PASSWORD", raising=False)
    code = main(["demo", "--db", str(tmp_path / "c.db"), "--ice-server", TURN])
    assert code == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"confsvc demo: error: --ice-server {TURN}: a TURN server needs")
