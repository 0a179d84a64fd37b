"""Logs: JSON lines with their fields, levels, the request id, and no secret or token in
any line of either format."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from confsvc.config import Config
from confsvc.core.roles import Role, issue_invite
from confsvc.http.requestid import request_id_for
from confsvc.logs import (
    JsonFormatter,
    conference_var,
    mask,
    mask_config,
    request_id_var,
    setup_logging,
)
from tests.conftest import SAMPLE

TURN_SECRET = "turn-shared-secret-Zq8"
SMTP_PASSWORD = "smtp-pass-Kx7"
FIELDS = ["time", "level", "logger", "message", "conference", "request_id"]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


def test_json_lines_parse_one_by_one_with_every_field(restore_logging: None) -> None:
    buf = io.StringIO()
    setup_logging(level="debug", fmt="json", stream=buf)
    log = logging.getLogger("confsvc.test")
    log.debug("first")
    conference_var.set("weifang-olsztyn-2020")
    request_id_var.set("req-1")
    log.warning("second: %s", 'with "quotes"\nand a newline')
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("third")
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [list(line) for line in lines] == [FIELDS] * 3
    assert [(x["level"], x["logger"]) for x in lines] == [
        ("debug", "confsvc.test"),
        ("warning", "confsvc.test"),
        ("error", "confsvc.test"),
    ]
    assert (lines[0]["conference"], lines[0]["request_id"]) == (None, None)
    assert lines[1]["message"] == 'second: with "quotes"\nand a newline'
    assert (lines[1]["conference"], lines[1]["request_id"]) == ("weifang-olsztyn-2020", "req-1")
    assert lines[2]["message"].startswith("third\nTraceback")
    assert lines[2]["message"].endswith("ValueError: boom")
    assert lines[2]["time"].endswith("+00:00")


def test_log_level_drops_what_is_below_it(restore_logging: None) -> None:
    buf = io.StringIO()
    setup_logging(level="warning", fmt="text", stream=buf)
    logging.getLogger("confsvc.test").info("quiet")
    logging.getLogger("confsvc.test").warning("loud")
    assert buf.getvalue().splitlines()[-1].endswith("WARNING confsvc.test: loud")
    assert "quiet" not in buf.getvalue()


def test_setting_up_twice_keeps_one_handler(restore_logging: None) -> None:
    buf = io.StringIO()
    setup_logging(stream=buf)
    setup_logging(stream=buf, fmt="json")
    logging.getLogger("confsvc.test").info("once")
    assert len(buf.getvalue().splitlines()) == 1


def test_bad_level_or_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown log level 'loud' \(one of debug, info"):
        setup_logging(level="loud")
    with pytest.raises(ValueError, match=r"unknown log format 'xml' \(one of text, json\)"):
        setup_logging(fmt="xml")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_tokens_and_masked_secrets_never_reach_a_line(fmt: str, restore_logging: None) -> None:
    buf = io.StringIO()
    setup_logging(fmt=fmt, stream=buf)
    mask(["hunter2-secret"])
    log = logging.getLogger("confsvc.test")
    log.info("GET /j/abc.def-ghi HTTP/1.1 and /c/x/written?t=tok123&lang=pl")
    log.info("password is %s", "hunter2-secret")
    try:
        raise RuntimeError("failed for /j/abc.def-ghi with hunter2-secret")
    except RuntimeError:
        log.exception("oops")
    out = buf.getvalue()
    for leak in ("abc.def-ghi", "tok123", "hunter2-secret"):
        assert leak not in out
    assert "/j/***" in out and "?t=***&lang=pl" in out


def test_mask_config_finds_secret_fields_and_url_passwords(restore_logging: None) -> None:
    cfg = Config(
        turn_secret="turn-secret-value",
        smtp_out="smtp://mailer:p%40ss-word@127.0.0.1:25",
        redis="redis://:redis-pw-1@127.0.0.1:6379/0",
    )
    buf = io.StringIO()
    setup_logging(fmt="text", stream=buf)
    mask_config(cfg)
    logging.getLogger("confsvc.test").info(
        "%s %s %s %s", cfg.turn_secret, cfg.smtp_out, "p@ss-word", cfg.redis
    )
    out = buf.getvalue()
    for leak in ("turn-secret-value", "p%40ss-word", "p@ss-word", "redis-pw-1"):
        assert leak not in out
    assert "smtp://mailer:***@127.0.0.1:25" in out


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("9f1c2e7a.proxy:1", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ('bad" id', False),
        ("line\nbreak", False),
        ("", False),
        (None, False),
    ],
)
def test_a_request_id_is_kept_only_when_sane(given: str | None, kept: bool) -> None:
    rid = request_id_for(given)
    assert (rid == given) is kept
    assert 1 <= len(rid) <= 64


def test_json_formatter_uses_extra_fields_over_context() -> None:
    record = logging.LogRecord("confsvc.x", logging.INFO, __file__, 1, "m", None, None)
    record.conference = "c-1"
    record.request_id = "r-1"
    line = json.loads(JsonFormatter().format(record))
    assert (line["conference"], line["request_id"]) == ("c-1", "r-1")


# -- a real server, driven with tokens and secrets configured --------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _drive(cfg: Config) -> dict[str, Any]:
    """Run ``run_server`` (the production path: redacting access log) and send it requests
    that carry an invite token; return what the test needs to look for."""
    from confsvc.cli.main import run_server
    from confsvc.http.keys import HUBS, SECRET

    seen: dict[str, Any] = {}
    done = asyncio.Event()

    async def ready(app: Any) -> None:
        hub = app[HUBS].loaded()[0]
        _, token = issue_invite(
            app[SECRET], conference=hub.id, role=Role.MODERATOR, now=time.time()
        )
        seen.update(token=token, conference=hub.id)
        base = cfg.base_url
        async with aiohttp.ClientSession() as s:
            r = await s.get(f"{base}/j/{token}", headers={"X-Request-ID": "drive-1"})
            seen["echoed"] = r.headers.get("X-Request-ID")
            await r.read()
            for path in (
                f"/c/{hub.id}/written?t={token}",
                f"/c/{hub.id}/questions/export.csv?token={token}",
                f"/c/{hub.id}/live",
                "/readyz",
                "/metrics",
            ):
                await (await s.get(base + path)).read()
            ws = await s.ws_connect(f"{base}/c/{hub.id}/ws")
            await ws.send_json({"type": "hello", "token": token})
            welcome = await ws.receive_json(timeout=10)
            seen["ice"] = welcome.get("ice_servers")
            await ws.send_json({"type": "command", "id": 1, "name": "q.nope", "args": {}})
            await ws.receive_json(timeout=10)
            await ws.close()
        done.set()

    server = asyncio.ensure_future(run_server(cfg, on_ready=ready))
    try:
        waiter = asyncio.ensure_future(done.wait())
        await asyncio.wait([server, waiter], timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if server.done():
            server.result()  # raises what stopped it
        assert done.is_set(), "the requests did not finish"
    finally:
        server.cancel()
        with_exc = await asyncio.gather(server, return_exceptions=True)
        assert all(isinstance(e, (asyncio.CancelledError, type(None))) for e in with_exc)
    return seen


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_no_token_or_secret_in_the_server_log(
    fmt: str, tmp_path: Path, restore_logging: None
) -> None:
    cfg = Config(
        db=str(tmp_path / "confsvc.db"),
        port=_free_port(),
        agendas=[SAMPLE],
        secret_file=tmp_path / "confsvc.secret",
        ice_addresses=["127.0.0.1"],
        ice_servers=[{"urls": "turn:127.0.0.1:3478"}],
        turn_secret=TURN_SECRET,
        smtp_out=f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:{_free_port()}",
        log_format=fmt,
        log_level="debug",
    )
    buf = io.StringIO()
    setup_logging(level="debug", fmt=fmt, stream=buf)
    mask_config(cfg)
    seen = await _drive(cfg)
    out = buf.getvalue()
    # There was something that could leak: the token went out in paths and the hello,
    # and TURN credentials were minted from the secret.
    assert seen["ice"] and seen["ice"][0]["username"]
    assert "/j/***" in out and "t=***" in out and "token=***" in out
    for leak in (seen["token"], TURN_SECRET, SMTP_PASSWORD):
        assert leak not in out
    assert seen["echoed"] == "drive-1"
    if fmt == "json":
        lines = [json.loads(line) for line in out.splitlines()]
        assert all(list(line) == FIELDS for line in lines)
        access = [x for x in lines if x["logger"] == "aiohttp.access"]
        join = next(x for x in access if "/j/***" in x["message"])
        assert join["request_id"] == "drive-1"
        live = next(x for x in access if f"/c/{seen['conference']}/live " in x["message"])
        assert live["conference"] == seen["conference"]
        assert live["request_id"] not in (None, "drive-1")
