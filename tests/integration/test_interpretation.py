"""Interpretation through the server: ``confsvc invite --role interpreter`` links that
open the booth page, ``agenda check`` on a bad interpreter, and ``rtc.channel`` refusals
that name the problem."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from tests.conftest import SECRET, Running
from tests.integration.test_translation_desk import _cli
from tests.unit.interpretation_agenda import TEXT


async def _running(confsvc_app: Any, tmp_path: Path) -> Running:
    agenda = tmp_path / "agenda.yaml"
    agenda.write_text(TEXT, encoding="utf-8")
    return await confsvc_app(agenda_path=agenda)  # type: ignore[no-any-return]


async def test_confsvc_invite_makes_an_interpreter_link_that_opens_the_booth(
    confsvc_app: Any, tmp_path: Path
) -> None:
    running = await _running(confsvc_app, tmp_path)
    secret = tmp_path / "cli.secret"  # the running app's own secret
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    store = ["--db", str(tmp_path / "confsvc.db"), "--secret-file", str(secret)]
    code, out, err = await _cli(
        "invite", "--role", "interpreter", "--interpreter", "pl-booth-2", "--json", *store,
        cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    link = json.loads(out)
    assert link["role"] == "interpreter"
    path = link["url"].split("127.0.0.1:8080", 1)[1]
    async with running.client.get(path) as resp:
        assert resp.status == 200
        page = html.unescape(await resp.text())
    assert "Polish booth, second interpreter" in page
    assert 'data-booth-card data-channel="pl"' in page
    code, out, err = await _cli("invite", "--role", "interpreter", *store, cwd=tmp_path)
    assert (code, out) == (1, "")
    assert "--role interpreter needs --interpreter ID" in err
    code, out, err = await _cli(
        "invite", "--role", "interpreter", "--interpreter", "de-1", *store, cwd=tmp_path
    )
    assert (code, out) == (1, "")
    assert "no interpreter 'de-1' in the agenda (interpreters: pl-booth-1, pl-booth-2, " in err


async def test_agenda_check_names_a_bad_interpreter_on_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = TEXT + '    - {id: de-1, name: "German", into: de, from: [zh]}\n'
    bad.write_text(text, encoding="utf-8")
    code, _out, err = await _cli("agenda", "check", str(bad), cwd=tmp_path)
    line = text.count("\n")
    assert code == 1
    assert err.strip().splitlines() == [
        f"{bad}:{line}:40: interpreter 'de-1' speaks into 'de', which is not a channel "
        "(channels: zh, pl, en)"
    ]


async def test_rtc_channel_is_refused_with_the_reason(confsvc_app: Any, tmp_path: Path) -> None:
    running = await _running(confsvc_app, tmp_path)
    viewer = await running.ws("participant")
    await viewer.sock.send_json({"type": "rtc.channel", "channel": "de"})
    err = await viewer.expect("error")
    assert (err["field"], err["message"]) == ("channel", "no channel 'de' (channels: zh, pl, en)")
    await viewer.sock.send_json({"type": "rtc.channel", "channel": "pl"})
    err = await viewer.expect("error")
    assert err["message"] == (
        "rtc.channel: this connection has no channel track; offer with channel: true first"
    )
    await viewer.close()
