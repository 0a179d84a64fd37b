"""Configuration: defaults < confsvc.toml < CONFSVC_* < flags (only those given); errors
name the file and line, the variable or the flag; secrets only from the environment or
from files of mode 0600; URLs with passwords refused on argv and in the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from confsvc.cli.main import build_parser, config_from, main
from confsvc.config import Config, ConfigError

SECRET = "sig-" + "s" * 44
PASSWORD = "pw-Zq8!not-in-any-output"


def cfg_of(argv: list[str], env: dict[str, str] | None = None) -> Config:
    return config_from(build_parser().parse_args(argv), env=env or {})


def toml(tmp_path: Path, text: str, name: str = "confsvc.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def secret_file(tmp_path: Path, name: str, value: str, mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(mode)
    return path


def error_of(argv: list[str], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        cfg_of(argv, env)
    return str(info.value)


# -- layers --------------------------------------------------------------------------


def test_file_values_reach_config(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        'port = 9001\nhost = "0.0.0.0"\nmail_domain = "answers.example.org"\n'
        'ice_servers = ["stun:stun.example.org:3478"]\nallowed_origins = ["https://a.example"]\n'
        "ice_timeout_s = 4.5\nmax_video_kbps = 800\n",
    )
    cfg = cfg_of(["serve", "--config", str(path)])
    assert (cfg.port, cfg.host, cfg.mail_domain) == (9001, "0.0.0.0", "answers.example.org")
    assert cfg.ice_servers == [{"urls": "stun:stun.example.org:3478"}]
    assert cfg.allowed_origins == ["https://a.example"]
    assert (cfg.ice_timeout_s, cfg.max_video_kbps) == (4.5, 800)


def test_env_overrides_file(tmp_path: Path) -> None:
    path = toml(tmp_path, 'port = 9001\nmail_domain = "file.example"\n')
    cfg = cfg_of(["serve", "--config", str(path)], {"CONFSVC_PORT": "9002"})
    assert (cfg.port, cfg.mail_domain) == (9002, "file.example")


def test_flag_overrides_env_and_file(tmp_path: Path) -> None:
    path = toml(tmp_path, "port = 9001\n")
    cfg = cfg_of(["serve", "--config", str(path), "--port", "9003"], {"CONFSVC_PORT": "9002"})
    assert cfg.port == 9003


def test_flag_defaults_do_not_mask_the_file_or_the_environment(tmp_path: Path) -> None:
    path = toml(tmp_path, 'db = "other.db"\nice_timeout_s = 3.0\nturn_ttl_s = 600\n')
    args = build_parser().parse_args(["demo", "--config", str(path)])
    cfg = config_from(args, env={"CONFSVC_MEDIA_MAX_PEERS": "12", "CONFSVC_MAIL_DOMAIN": "e.x"})
    assert cfg.db == str(tmp_path / "other.db")
    assert (cfg.ice_timeout_s, cfg.turn_ttl_s, cfg.media_max_peers) == (3.0, 600, 12)
    assert cfg.mail_domain == "e.x"
    assert cfg.secret_file == tmp_path / "confsvc.secret"  # beside the file's SQLite store
    assert (args.db, args.mail_domain) == (cfg.db, "e.x")  # args hold what is in effect


def test_environment_lists_are_comma_separated_or_json() -> None:
    cfg = cfg_of(
        ["demo"],
        {
            "CONFSVC_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "CONFSVC_ICE_SERVERS": '["stun:s.example:3478"]',
        },
    )
    assert cfg.allowed_origins == ["https://a.example", "https://b.example"]
    assert cfg.ice_servers == [{"urls": "stun:s.example:3478"}]


def test_file_strings_are_read_like_the_flag(tmp_path: Path) -> None:
    path = toml(tmp_path, 'ice_servers = ["turn://x"]\n')
    assert error_of(["demo", "--config", str(path)]) == (
        f"{path}:1: ice_servers: write turn:HOST[:PORT], without //: 'turn://x'"
    )
    path = toml(tmp_path, "turn_ttl_s = 0\n")
    assert error_of(["demo", "--config", str(path)]) == (
        f"{path}:1: turn_ttl_s: must be a whole number above 0, not '0'"
    )


def test_relative_paths_in_the_file_are_from_its_folder(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = toml(tmp_path / "etc", 'agendas = ["event.yaml"]\nsecret_file = "keys/s"\n')
    cfg = cfg_of(["serve", "--config", str(path)])
    assert cfg.agendas == [tmp_path / "etc" / "event.yaml"]
    assert cfg.secret_file == tmp_path / "etc" / "keys" / "s"


def test_config_built_in_code_reads_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFSVC_PORT", "1234")
    monkeypatch.setenv("CONFSVC_SECRET", SECRET)
    cfg = Config(db="x.db", port=9)
    assert (cfg.db, cfg.port, cfg.secret) == ("x.db", 9, None)
    assert Config.port == 8080 and Config.turn_ttl_s == 86400  # defaults, as on a dataclass
    with pytest.raises(ValueError, match="smtp_ot"):
        Config(smtp_ot="smtp://h")  # type: ignore[call-arg]


# -- errors name the file and the line ------------------------------------------------


def test_unknown_key_names_file_and_line(tmp_path: Path) -> None:
    path = toml(tmp_path, '# mail\nport = 9001\n\nmail_domain = "x"\n\n\nsmtp_ot = "smtp://h"\n')
    assert error_of(["serve", "--config", str(path)]) == (
        f"{path}:7: unknown key 'smtp_ot' (did you mean 'smtp_out'?)"
    )
    path = toml(tmp_path, 'allow_origin = ["https://a"]\n')
    assert error_of(["serve", "--config", str(path)]) == (
        f"{path}:1: unknown key 'allow_origin' (did you mean 'allowed_origins'?)"
    )


def test_wrong_type_names_key_and_file(tmp_path: Path) -> None:
    path = toml(tmp_path, 'host = "::"\nport = "eighty"\n')
    assert (
        error_of(["serve", "--config", str(path)])
        == f"{path}:2: port: not a whole number: 'eighty'"
    )
    path = toml(tmp_path, "port = 70000\n")
    assert error_of(["serve", "--config", str(path)]).startswith(f"{path}:1: port: ")
    path = toml(tmp_path, 'log_format = "xml"\n')
    message = error_of(["serve", "--config", str(path)])
    assert message.startswith(f"{path}:1: log_format: must be one of ")


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    path = toml(tmp_path, "port = 1\nhost = \n")
    assert error_of(["serve", "--config", str(path)]).startswith(f"{path}:2: not valid TOML: ")


def test_wrong_environment_value_names_the_variable() -> None:
    assert error_of(["demo"], {"CONFSVC_PORT": "x"}) == "CONFSVC_PORT: not a whole number: 'x'"


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert error_of(["demo", "--config", str(missing)]) == f"{missing}: no such configuration file"


# -- secrets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "url", "instead"),
    [
        (
            "--smtp-out",
            "smtp://mailer:pw@mail.example.org:587",
            "CONFSVC_SMTP_PASSWORD or smtp_password_file",
        ),
        (
            "--imap",
            "imaps://answers:pw@imap.example.org/INBOX",
            "CONFSVC_IMAP_PASSWORD or imap_password_file",
        ),
        ("--redis", "redis://:pw@redis.example.org:6379/0", "CONFSVC_REDIS=redis://:PASSWORD@HOST"),
        (
            "--db",
            "postgresql://confsvc:pw@db.example.org/confsvc",
            "PGPASSWORD or a ~/.pgpass file",
        ),
    ],
)
def test_url_with_a_password_is_refused(flag: str, url: str, instead: str) -> None:
    message = error_of(["serve", flag, url])
    assert message.startswith(f"{flag}: the URL carries a password")
    assert "ps" in message and instead in message
    assert "pw@" not in message


def test_url_with_a_password_in_the_file_is_refused(tmp_path: Path) -> None:
    path = toml(tmp_path, 'port = 1\nsmtp_out = "smtp://u:pw@h"\n')
    message = error_of(["serve", "--config", str(path)])
    assert message.startswith(f"{path}:2: smtp_out: the URL carries a password")
    assert "CONFSVC_SMTP_PASSWORD or smtp_password_file" in message


def test_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    path = toml(tmp_path, f'smtp_out = "smtp://u@h"\nsmtp_password = "{PASSWORD}"\n')
    message = error_of(["serve", "--config", str(path)])
    assert message.startswith(f"{path}:2: smtp_password is a secret and is never read from")
    assert "CONFSVC_SMTP_PASSWORD" in message and "smtp_password_file" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    "flag", ["--smtp-password", "--secret", "--turn-secret", "--imap-password"]
)
def test_secret_flags_are_refused(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["serve", f"{flag}={PASSWORD}"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "secrets are never taken from the command line" in err
    assert f"{flag}-file" in err and PASSWORD not in err


def test_password_from_the_environment_goes_into_the_url() -> None:
    cfg = cfg_of(
        ["demo", "--smtp-out", "smtp://mailer@mail.example.org:587"],
        {"CONFSVC_SMTP_PASSWORD": "p@ss word"},
    )
    assert cfg.smtp_password == "p@ss word"
    from confsvc.mail.sender import SmtpSettings

    smtp = SmtpSettings.from_url(cfg.smtp_out or "")
    assert (smtp.username, smtp.password, smtp.port) == ("mailer", "p@ss word", 587)
    assert "p@ss" not in repr(cfg) and "ss%20word" not in repr(cfg)


def test_url_password_from_the_environment_is_accepted_and_masked() -> None:
    cfg = cfg_of(["demo"], {"CONFSVC_IMAP": f"imaps://answers:{PASSWORD}@imap.example.org/INBOX"})
    assert cfg.imap is not None and PASSWORD in cfg.imap
    assert PASSWORD not in repr(cfg)


def test_secrets_from_files(tmp_path: Path) -> None:
    smtp = secret_file(tmp_path, "smtp.pw", PASSWORD)
    imap = secret_file(tmp_path, "imap.pw", "imap-" + PASSWORD)
    turn = secret_file(tmp_path, "turn.secret", "coturn-shared")
    path = toml(
        tmp_path,
        'smtp_out = "smtps://mailer@mail.example.org"\nsmtp_password_file = "smtp.pw"\n'
        'imap = "imaps://answers@imap.example.org/INBOX"\nice_servers = ["turn:t.example:3478"]\n'
        f'turn_secret_file = "{turn}"\n',
    )
    cfg = cfg_of(["serve", "--config", str(path), "--imap-password-file", str(imap)])
    assert cfg.smtp_password == PASSWORD
    assert cfg.imap_password == "imap-" + PASSWORD
    assert cfg.turn_secret == "coturn-shared"
    from confsvc.mail.imap import ImapSettings

    assert ImapSettings.from_url(cfg.imap or "").password == "imap-" + PASSWORD
    assert smtp.exists()


def test_turn_password_from_a_file(tmp_path: Path) -> None:
    pw = secret_file(tmp_path, "turn.pw", "static-pass")
    cfg = cfg_of(
        [
            "demo",
            "--ice-server",
            "turn:t.example:3478",
            "--turn-username",
            "u",
            "--turn-password-file",
            str(pw),
        ]
    )
    assert (cfg.turn_username, cfg.turn_password) == ("u", "static-pass")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_secret_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    pw = secret_file(tmp_path, "smtp.pw", PASSWORD, mode)
    message = error_of(["serve", "--smtp-out", "smtp://u@h", "--smtp-password-file", str(pw)])
    assert message == (
        f"smtp_password_file {pw} is open to its group or others (mode {mode:04o}); a secret "
        f"must be readable by its owner only: run chmod 600 {pw}"
    )


def test_secret_given_twice_is_refused(tmp_path: Path) -> None:
    pw = secret_file(tmp_path, "smtp.pw", PASSWORD)
    message = error_of(
        ["serve", "--smtp-out", "smtp://u@h", "--smtp-password-file", str(pw)],
        {"CONFSVC_SMTP_PASSWORD": "other"},
    )
    assert (
        message
        == "CONFSVC_SMTP_PASSWORD and --smtp-password-file both give smtp_password: keep one"
    )


def test_password_needs_a_user_in_the_url() -> None:
    message = error_of(["serve", "--smtp-out", "smtp://h:25"], {"CONFSVC_SMTP_PASSWORD": "x"})
    assert message == "CONFSVC_SMTP_PASSWORD needs a user in --smtp-out: smtp://USER@h:25"


# -- the signing secret ---------------------------------------------------------------


def test_sqlite_node_makes_its_secret_beside_the_store(tmp_path: Path) -> None:
    from confsvc.http.secret import signing_secret

    cfg = cfg_of(["demo", "--db", str(tmp_path / "data" / "c.db")])
    assert cfg.secret_file == tmp_path / "data" / "confsvc.secret"
    first = signing_secret(cfg)
    assert (cfg.secret_file.stat().st_mode & 0o777) == 0o600
    assert signing_secret(cfg) == first == cfg.secret_file.read_bytes().strip()


def test_signing_secret_from_the_environment() -> None:
    from confsvc.http.secret import signing_secret

    cfg = cfg_of(
        ["demo", "--db", "postgresql://confsvc@db.example.org/c"], {"CONFSVC_SECRET": SECRET}
    )
    assert signing_secret(cfg) == SECRET.encode()
    assert SECRET not in repr(cfg)


def test_postgresql_node_without_a_shared_secret_refuses(tmp_path: Path) -> None:
    from confsvc.http.secret import signing_secret

    cfg = cfg_of(
        [
            "serve",
            "--db",
            "postgresql://confsvc@db.example.org/c",
            "--secret-file",
            str(tmp_path / "s"),
        ]
    )
    with pytest.raises(ConfigError) as info:
        signing_secret(cfg)
    message = str(info.value)
    assert message.startswith(f"no signing secret: {tmp_path / 's'} does not exist")
    assert "CONFSVC_SECRET" in message and "secret_file" in message
    assert not (tmp_path / "s").exists()
    shared = secret_file(tmp_path, "s", SECRET)
    assert signing_secret(cfg) == SECRET.encode()
    shared.chmod(0o644)
    with pytest.raises(ConfigError, match=f"run chmod 600 {shared}"):
        signing_secret(cfg)


# -- confsvc config show -------------------------------------------------------------


def test_config_show_masks_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    pw = secret_file(tmp_path, "smtp.pw", PASSWORD)
    for name in list(os.environ):
        if name.startswith("CONFSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CONFSVC_SECRET", SECRET)
    monkeypatch.setenv("CONFSVC_TURN_SECRET", "turn-" + PASSWORD)
    monkeypatch.setenv("CONFSVC_IMAP", f"imaps://answers:imap-{PASSWORD}@imap.example.org/INBOX")
    toml(
        tmp_path,
        'smtp_out = "smtp://mailer@mail.example.org:587"\nice_servers = ["turn:t.example"]\n',
    )
    argv = ["config", "show", "--smtp-password-file", str(pw)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert main([*argv, "--json"]) == 0
    shown = capsys.readouterr().out
    for out in (text, shown):
        assert PASSWORD not in out and SECRET not in out
    values = json.loads(shown)
    assert values["secret"] == values["smtp_password"] == values["turn_secret"] == "***"
    assert values["smtp_out"] == "smtp://mailer@mail.example.org:587"
    assert values["imap"] == "imaps://answers:***@imap.example.org/INBOX"
    assert 'smtp_out = "smtp://mailer@mail.example.org:587"  # from confsvc.toml:1' in text
    assert '# secret = "***"  # from CONFSVC_SECRET' in text
    import tomllib

    kept = tomllib.loads(text)  # what it prints can be kept as a confsvc.toml
    assert kept["smtp_out"] == "smtp://mailer@mail.example.org:587" and "secret" not in kept


def test_config_show_fails_like_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    toml(tmp_path, 'port = 1\nsmtp_ot = "smtp://h"\n')
    assert main(["config", "show"]) == 1
    assert capsys.readouterr().err.strip() == (
        "confsvc config: error: confsvc.toml:2: unknown key 'smtp_ot' (did you mean 'smtp_out'?)"
    )


# -- docs/configuration.md -----------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_key_is_documented_with_its_variable() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [
        key
        for key in Config.model_fields
        if f"| `{key}` |" not in text or f"`CONFSVC_{key.upper()}`" not in text
    ]
    assert not missing, f"add these keys to the table in {DOC.name}: {missing}"


def test_the_example_file_is_valid(tmp_path: Path) -> None:
    import re
    import tomllib

    example = re.search(r"## Example `confsvc.toml`\n\n```toml\n(.*?)```", DOC.read_text(), re.S)
    assert example is not None
    data = tomllib.loads(example.group(1))
    assert set(data) <= set(Config.model_fields)
    turn = secret_file(tmp_path, "turn.secret", "coturn")
    imap = secret_file(tmp_path, "imap.pw", "imap")
    text = example.group(1).replace("/etc/confsvc/turn.secret", str(turn))
    path = toml(tmp_path, text.replace("/etc/confsvc/imap.pw", str(imap)))
    cfg = cfg_of(["serve", "--config", str(path)], {"CONFSVC_SECRET": SECRET})
    assert cfg.rtc_ports == (40000, 40100) and cfg.turn_secret == "coturn"
    assert cfg.agendas == [tmp_path / "agendas" / "weifang-olsztyn-2020.yaml"]


def test_documented_flags_are_the_parsers() -> None:
    import argparse
    import re

    from confsvc.cli.main import flag_key

    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", DOC.read_text(), re.M))
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    wrong = []
    for action in sub.choices["serve"]._actions:
        key = flag_key(action.dest) if action.option_strings else None
        if key is None or action.help == argparse.SUPPRESS:
            continue
        if f"`{action.option_strings[-1]}`" not in rows.get(key, ""):
            wrong.append((key, action.option_strings[-1]))
    assert not wrong, f"the flags of these keys differ in {DOC.name}: {wrong}"


# -- the metrics port ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "65536", "-1"])
def test_metrics_port_out_of_range_is_refused(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--agenda", "a.yaml", "--metrics-port", text])
    assert (
        f"confsvc serve: error: argument --metrics-port: must be a port from 1 to 65535, not {text!r}"
        in capsys.readouterr().err
    )
    assert error_of(["serve"], {"CONFSVC_METRICS_PORT": text}) == (
        f"CONFSVC_METRICS_PORT: must be a port from 1 to 65535, not {text!r}"
    )


def test_metrics_port_in_the_file_is_read_like_the_flag(tmp_path: Path) -> None:
    path = toml(tmp_path, "metrics_port = 0\n")
    assert error_of(["serve", "--config", str(path)]) == (
        f"{path}:1: metrics_port: must be a port from 1 to 65535, not '0'"
    )
    toml(tmp_path, "metrics_port = 9100\n")
    assert cfg_of(["serve", "--config", str(path)]).metrics_port == 9100


def test_metrics_port_on_the_main_port_is_refused(tmp_path: Path) -> None:
    advice = (
        "give /metrics another port, or leave metrics_port unset to serve /metrics on the main port"
    )
    assert error_of(["serve", "--metrics-port", "8080"]) == (
        f"--metrics-port: 8080 is also the main port (port's default): {advice}"
    )
    assert error_of(["serve", "--metrics-port", "9100"], {"CONFSVC_PORT": "9100"}) == (
        f"--metrics-port: 9100 is also the main port (CONFSVC_PORT): {advice}"
    )
    path = toml(tmp_path, "port = 9100\nmetrics_port = 9100\n")
    assert error_of(["serve", "--config", str(path)]) == (
        f"{path}:2: metrics_port: 9100 is also the main port (port, {path}:1): {advice}"
    )
