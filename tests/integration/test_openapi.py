"""The written contract: every route of the app is in the OpenAPI description, the report
JSON matches its published JSON Schema, and schemathesis finds no 5xx and no response
that breaks the description on a live server (loopback, bounded examples and time)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker

from confsvc.core.agenda import parse_agenda
from confsvc.core.report import build
from confsvc.http.api import spec
from confsvc.http.openapi import report_schema
from tests.conftest import SAMPLE, Running
from tests.integration.report_leaks import leaky_session

ROOT = Path(__file__).resolve().parents[2]
DOCS_SCHEMA = ROOT / "docs" / "report.schema.json"
AGENDA = parse_agenda(SAMPLE.read_bytes())


def _described(route: web.AbstractRoute, paths: dict[str, Any]) -> list[str]:
    """The described paths that this route serves (method and URL both)."""
    method = route.method.lower()
    out = []
    for path, ops in paths.items():
        if method not in ops:
            continue
        url = re.sub(r"\{[^}]+\}", "x1", path)
        resource = route.resource
        info = resource.get_info() if resource is not None else {}
        if "prefix" in info:  # static files: a prefix, not a pattern
            if url.startswith(info["prefix"] + "/"):
                out.append(path)
            continue
        pattern = info.get("pattern")
        if (pattern is not None and pattern.fullmatch(url)) or info.get("path") == url:
            out.append(path)
    return out


async def test_every_route_of_the_app_is_described(running: Running) -> None:
    paths = spec()["paths"]
    routes = [r for r in running.app.router.routes() if r.method != "HEAD"]
    assert len(routes) >= 18
    missing = [
        f"{r.method} {r.resource.canonical if r.resource else r}"
        for r in routes
        if not _described(r, paths)
    ]
    assert missing == []
    # ...and nothing described that the app does not serve.
    served = {p for r in routes for p in _described(r, paths)}
    assert sorted(set(paths) - served) == []


async def test_every_operation_has_responses_with_content(running: Running) -> None:
    for path, ops in spec()["paths"].items():
        for method, op in ops.items():
            assert op["summary"], (method, path)
            ok = [c for c in op["responses"] if c.startswith(("2", "3")) or c == "101"]
            assert ok, (method, path)


def test_the_report_schema_in_docs_is_the_shipped_one() -> None:
    assert json.loads(DOCS_SCHEMA.read_text("utf-8")) == report_schema(), (
        "docs/report.schema.json differs from confsvc/report/report.schema.json: copy it"
    )


VALIDATOR = Draft202012Validator(report_schema(), format_checker=FormatChecker())


def _errors(data: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(data)]


def test_report_json_matches_its_schema_and_the_schema_can_fail() -> None:
    Draft202012Validator.check_schema(report_schema())
    s = leaky_session(AGENDA)
    for public in (False, True):
        data = json.loads(json.dumps(build(s.state, s.now, public=public)))
        assert _errors(data) == []
    public = json.loads(json.dumps(build(s.state, s.now, public=True)))
    public["questions"][0]["name"] = "Anna Jawna"
    assert len(_errors(public)) >= 1
    private = json.loads(json.dumps(build(s.state, s.now)))
    private["conference"]["status"] = "exploded"
    assert len(_errors(private)) == 1


async def test_served_report_json_matches_its_schema(running: Running) -> None:
    for url in (
        f"/c/{running.conference}/report?format=json",
        f"/j/{running.token('host')}/report?format=json",
    ):
        resp = await running.client.get(url)
        assert resp.status == 200
        assert _errors(json.loads(await resp.text())) == []
    host = await running.ws("host")
    await host.command("ros.start")
    resp = await running.client.get(f"/j/{running.token('moderator')}/report?format=json")
    assert _errors(json.loads(await resp.text())) == []
    await host.close()


def test_a_non_ascii_invite_token_is_refused_not_a_server_error() -> None:
    from confsvc.core.roles import InviteError, verify_invite

    with pytest.raises(InviteError, match="this link is not a confsvc invite"):
        verify_invite(b"s" * 32, "ñ.x", now=0.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serve(tmp_path: Path) -> Any:
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "confsvc",
            "serve",
            "--agenda",
            str(SAMPLE),
            "--db",
            str(tmp_path / "st.db"),
            "--secret-file",
            str(tmp_path / "st.secret"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield base
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


# Streams that never end on their own: their handshakes are tested in test_ws_protocol.py
# and test_questions.py; schemathesis would wait on them until its request timeout.
ENDLESS = ("/c/{conference}/live/events", "/c/{conference}/ws")


@pytest.mark.timeout(400)
def test_schemathesis_finds_no_server_error_and_no_broken_response(tmp_path: Path) -> None:
    described = spec()
    # Real ids as examples, so the examples phase reaches past the 404s.
    for ops in described["paths"].values():
        for op in ops.values():
            for param in op.get("parameters", []):
                if param["name"] == "conference":
                    param["schema"] = {**param["schema"], "examples": [AGENDA.conference.id]}
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(described))
    st = Path(sys.executable).parent / "schemathesis"
    with _serve(tmp_path) as base:
        args = [str(st), "run", str(path), "--url", base, "--checks", "all", "-n", "5"]
        args += ["--seed", "1", "--max-time", "100", "--request-timeout", "5", "-w", "1"]
        args += ["--no-color", "--suppress-health-check", "all"]
        # A well-formed request without a valid invite token or conference id is refused
        # (403/404) by design, which this check would count as a failure.
        args += ["--exclude-checks", "positive_data_acceptance"]
        for endless in ENDLESS:
            args += ["--exclude-path", endless]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        server_log = (tmp_path / "serve.log").read_text()
    out = done.stdout + done.stderr
    cases = re.search(r"(\d+) generated", out)
    print(f"schemathesis: {cases.group(1) if cases else '?'} cases")
    assert done.returncode == 0, out[-6000:]
    assert cases is not None and int(cases.group(1)) > 100
    # aiohttp logs the requests its parser refuses (400) with a traceback of its own;
    # none may pass through confsvc's code.
    assert re.findall(r'File "[^"]*/confsvc/[^"]*"', server_log) == [], server_log[-4000:]
