"""The installed ``confsvc`` command with configuration: ./confsvc.toml is picked up,
``config show`` masks secrets, and a PostgreSQL node without a shared signing secret
refuses to start in one line (CONFSVC_TEST_POSTGRES; skipped without it)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"
SECRET = "shared-" + "k" * 48
PASSWORD = "pw-Xy7-never-printed"


def confsvc() -> list[str]:
    """The ``confsvc`` script of the environment running the tests (.venv/bin/confsvc)."""
    script = Path(sys.executable).with_name("confsvc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "confsvc"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFSVC_")}
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(
    cwd: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*confsvc(), *argv],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_failure(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def wait_healthy(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                assert resp.status == 200
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 0


def test_confsvc_toml_in_the_working_directory_is_picked_up(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "confsvc.toml").write_text(
        f'port = {port}\nagendas = ["{SAMPLE}"]\ndb = "data/event.db"\nmail_domain = "answers.example.org"\n'
    )
    (tmp_path / "data").mkdir()
    shown = run(tmp_path, "config", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    values = json.loads(shown.stdout)
    assert (values["port"], values["mail_domain"]) == (port, "answers.example.org")
    assert (tmp_path / values["db"]).resolve() == tmp_path / "data" / "event.db"
    # serve with no flags at all runs what the file says.
    proc = subprocess.Popen(
        [*confsvc(), "serve"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_healthy(port, proc)
    finally:
        stop(proc)
    assert (tmp_path / "data" / "event.db").exists()
    secret = tmp_path / "data" / "confsvc.secret"  # SQLite: made beside the store, 0600
    assert (secret.stat().st_mode & 0o777) == 0o600


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    pw = tmp_path / "smtp.pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    (tmp_path / "confsvc.toml").write_text(
        'smtp_out = "smtp://mailer@mail.example.org:587"\nsmtp_password_file = "smtp.pw"\n'
    )
    env = clean_env(
        CONFSVC_SECRET=SECRET,
        CONFSVC_TURN_SECRET="turn-" + PASSWORD,
        CONFSVC_REDIS=f"redis://:redis-{PASSWORD}@127.0.0.1:6379/0",
    )
    for argv in (["config", "show"], ["config", "show", "--json"]):
        proc = run(tmp_path, *argv, env=env)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout + proc.stderr
        assert PASSWORD not in out and SECRET not in out
        assert "***" in out


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    pw = tmp_path / "smtp.pw"
    pw.write_text(PASSWORD)
    pw.chmod(0o644)
    proc = run(
        tmp_path,
        "mail",
        "send-due",
        "--smtp-out",
        "smtp://u@127.0.0.1:9",
        "--smtp-password-file",
        str(pw),
    )
    line = one_line_failure(proc)
    assert line == (
        f"confsvc mail: error: smtp_password_file {pw} is open to its group or others (mode "
        f"0644); a secret must be readable by its owner only: run chmod 600 {pw}"
    )


def test_password_in_a_url_flag_is_refused(tmp_path: Path) -> None:
    proc = run(tmp_path, "mail", "send-due", "--smtp-out", f"smtp://u:{PASSWORD}@127.0.0.1:9")
    line = one_line_failure(proc)
    assert line.startswith("confsvc mail: error: --smtp-out: the URL carries a password")
    assert "CONFSVC_SMTP_PASSWORD or smtp_password_file" in line
    assert PASSWORD not in line


@pytest.mark.postgres
def test_postgresql_node_without_a_shared_secret_refuses_to_start(
    tmp_path: Path, postgres_dsn: str
) -> None:
    port = free_port()
    argv = ["serve", "--agenda", str(SAMPLE), "--db", postgres_dsn, "--port", str(port)]
    line = one_line_failure(run(tmp_path, *argv))
    assert line.startswith("confsvc serve: error: no signing secret: confsvc.secret does not exist")
    assert "CONFSVC_SECRET" in line and "secret_file" in line
    assert not (tmp_path / "confsvc.secret").exists()  # no local secret was made
    # Given the shared secret, the same node starts.
    proc = subprocess.Popen(
        [*confsvc(), *argv],
        cwd=tmp_path,
        env=clean_env(CONFSVC_SECRET=SECRET),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_healthy(port, proc)
    finally:
        stop(proc)
    assert not (tmp_path / "confsvc.secret").exists()


# -- the store commands read the configuration as serve does ------------------------

CID = "weifang-olsztyn-2020"


def seed_store(db: Path) -> None:
    """A store holding the sample conference (created from the agenda, not started)."""
    import asyncio

    from confsvc.core.agenda import parse_agenda
    from confsvc.service import Hubs
    from confsvc.store import open_store

    async def seed() -> None:
        store = await open_store(str(db))
        try:
            await Hubs(store).create_or_resume(parse_agenda(SAMPLE.read_bytes()))
        finally:
            await store.close()

    asyncio.run(seed())


def test_report_and_admin_find_the_store_named_in_confsvc_toml(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    seed_store(tmp_path / "data" / "event.db")
    (tmp_path / "confsvc.toml").write_text('db = "data/event.db"\n')

    report = run(tmp_path, "report", "--conference", CID, "--format", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["conference"]["id"] == CID

    listed = run(tmp_path, "admin", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [row["id"] for row in json.loads(listed.stdout)] == [CID]
    # Nothing was made in the working directory: the store is the file's, not ./confsvc.db.
    assert not (tmp_path / "confsvc.db").exists()


def test_store_commands_read_confsvc_db_from_the_environment(tmp_path: Path) -> None:
    seed_store(tmp_path / "elsewhere.db")
    env = clean_env(CONFSVC_DB=str(tmp_path / "elsewhere.db"))
    proc = run(tmp_path, "questions", "export", "--conference", CID, "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(
        run(
            tmp_path,
            *("questions", "export", "--conference", CID, "--format", "json"),
            *("--db", str(tmp_path / "elsewhere.db")),
        ).stdout
    )
    assert not (tmp_path / "confsvc.db").exists()


STORE_COMMANDS = [
    ["report", "--conference", CID, "--format", "json"],
    ["export", "--conference", CID],
    ["import", "export.json"],
    ["admin", "list"],
    ["admin", "show", "--conference", CID],
    ["privacy", "export", "--email", "a@example.org"],
    ["privacy", "erase", "--email", "a@example.org", "--yes"],
    ["questions", "export", "--conference", CID],
    ["questions", "import", "--conference", CID, "questions.csv"],
]


@pytest.mark.parametrize("argv", STORE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_password_in_db_is_refused_as_serve_refuses_it(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from confsvc.cli.main import main

    (tmp_path / "export.json").write_text(
        json.dumps(
            {
                "format": "confsvc-conference",
                "version": 1,
                "conference": CID,
                "events": [
                    {
                        "seq": 1,
                        "type": "conference.created",
                        "at": 1.0,
                        "actor": "system",
                        "data": {"agenda": {}},
                    }
                ],
            }
        )
    )
    (tmp_path / "questions.csv").write_text("text,language\nWhy?,en\n")
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("CONFSVC_")]:
        monkeypatch.delenv(name)
    dsn = f"postgresql://u:{PASSWORD}@db.example.org/db"
    code = main([*argv, "--db", dsn])
    serve = main(["serve", "--agenda", str(SAMPLE), "--db", dsn])
    out, err = capsys.readouterr()
    mine, serves = err.strip().splitlines()
    assert (code, serve, out) == (1, 1, "")
    reason = (
        "error: --db: the URL carries a password, which confsvc refuses here (the command line "
        "shows in ps and the shell's history): give the DSN without it and the password in "
        "PGPASSWORD or a ~/.pgpass file (PGPASSFILE), or the whole DSN in the environment: "
        "CONFSVC_DB"
    )
    assert mine == f"confsvc {argv[0]}: {reason}"
    assert serves == f"confsvc serve: {reason}"
    assert PASSWORD not in err


def test_mail_receive_logs_json_lines_through_confsvc_logs(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(CONFSVC_SMTP_OUT=f"smtp://mailer:{PASSWORD}@127.0.0.1:9")
    argv = ["mail", "receive", "--listen", f"127.0.0.1:{port}", "--log-format", "json"]
    proc = subprocess.Popen(
        [*confsvc(), *argv, "--log-level", "debug"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"confsvc mail: receiving on 127.0.0.1:{port}"), proc.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in err.splitlines()]  # every line one JSON object
    assert {"time", "level", "logger", "message", "conference", "request_id"} <= set(records[0])
    assert f"mail: receiving replies on 127.0.0.1:{port}" in [r["message"] for r in records]
    assert PASSWORD not in err
