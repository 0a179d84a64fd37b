"""The whole flow across languages, over real SMTP (aiosmtpd) and the app: a Polish
question is imported into the queue, assigned to a Chinese-reading expert (the mail waits
for the desk's translation, then goes in Chinese with the Polish original below), answered
in Chinese by e-mail, translated at the desk into Polish (the dashboard shows the state;
publication waits for it), published, and read in Polish and in Chinese on the public
page, in the asker's mail (Polish, the Chinese original below) and in the report."""

from __future__ import annotations

import html
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from confsvc.core import written as W
from tests.conftest import SAMPLE
from tests.fixtures.mail.clients import CLIENTS
from tests.fixtures.mail.smtp import Sink, free_port, start_sink, stop_sink, until
from tests.integration.test_mail_flow import EPI, EPI_MAIL, MailWorld

POLISH_Q = "Jak długo osoby z kontaktu muszą przebywać na kwarantannie?"
CHINESE_Q = "密切接触者需要隔离多长时间？"
CHINESE_A = "密切接触者需要集中隔离十四天，其间进行两次核酸检测。"
POLISH_A = "Osoby z kontaktu przechodzą czternastodniową kwarantannę z dwoma testami."
ASKER = "anna@example.pl"


def desk_agenda(tmp_path: Path) -> Path:
    """The sample agenda with a translation desk (``translators:``)."""
    text = SAMPLE.read_text("utf-8").replace(
        "\nitems:\n",
        "\ntranslators:\n  - id: pl-desk\n    name: Polish desk\n    languages: [zh, pl]\nitems:\n",
        1,
    )
    path = tmp_path / "desk.yaml"
    path.write_text(text, "utf-8")
    return path


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await start_sink()
    yield s
    await stop_sink(s)


@pytest.fixture
async def world(confsvc_app: Callable[..., Any], sink: Sink, tmp_path: Path) -> MailWorld:
    port = free_port()
    running = await confsvc_app(
        agenda_path=desk_agenda(tmp_path),
        smtp_out=f"smtp+plain://127.0.0.1:{sink.port}",
        smtp_in=f"127.0.0.1:{port}",
    )
    return MailWorld(running, sink, port)


def _text(mail: Any) -> str:
    return str(mail.msg.get_body(("plain",)).get_content())


async def _dashboard(mod: Any, qid: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The question's first row on the written-answers dashboard (its staff messages)
    that is ``ready``."""
    while True:
        change = await mod.expect("written.changed")
        for row in change.get("questions", []):
            if row["id"] == qid and ready(row):
                return row


async def test_a_polish_question_answered_in_chinese_is_published_in_both(
    world: MailWorld,
) -> None:
    running = world.running
    mod = await running.ws("moderator")
    desk = await running.ws(None, token=running.token("translator", languages=("zh", "pl")))
    row = {"line": 2, "text": POLISH_Q, "language": "pl", "asker": "Anna", "email": ASKER}
    assert (await mod.command("q.import", rows=[row]))["type"] == "ack"
    assert (await desk.expect("q.desk_batch"))["items"][0]["needs"] == ["zh", "en"]

    # The assignment waits for the desk: no mail yet, the dashboard says why.
    due = time.time() + 86400
    ack = await mod.command("written.assign", question="q-1", expert=EPI, due=due)
    assert ack["type"] == "ack"
    dash = await _dashboard(mod, "q-1", lambda row: row["status"] == "assigned")
    assert (dash["status"], dash["waits_for"], dash["translation_state"]) == (
        "assigned",
        "zh",
        "waiting",
    )
    assert world.sink.messages == []

    # The desk translates the question: the mail goes, in Chinese, the original below.
    ack = await desk.command("q.translate", id="q-1", language="zh", text=CHINESE_Q)
    assert ack["type"] == "ack"
    [assignment] = await world.sink.wait_for(1)
    assert assignment.rcpt_tos == [EPI_MAIL]
    assert assignment.msg["Content-Language"] == "zh"
    body = _text(assignment)
    assert body.index(CHINESE_Q) < body.index("原文 (波兰语):") < body.index(POLISH_Q)
    hub = await world.hub()
    await until(lambda: W.by_id(hub.state)["q-1"].status == "sent", what="sent")

    # The expert answers in Chinese by e-mail.
    build, _ = CLIENTS["gmail"]
    raw = build(
        to=world.reply_to("q-1"),
        sender=EPI_MAIL,
        in_reply_to=str(assignment.msg["Message-ID"]),
        answer=CHINESE_A,
    )
    await world.send(raw, world.reply_to("q-1"))
    await until(lambda: W.by_id(hub.state)["q-1"].status == "answered", what="answered")
    item = (await desk.expect("written.desk"))["item"]
    assert (item["language"], item["needs"], item["text"]) == ("zh", ["pl", "en"], CHINESE_A)

    # Publication waits for the asker's language.
    refused = await mod.command("written.publish", question="q-1")
    assert (refused["type"], refused["key"]) == ("error", "written.untranslated")
    ack = await desk.command("written.translate", question="q-1", language="pl", text=POLISH_A)
    assert ack["type"] == "ack"
    dash = await _dashboard(mod, "q-1", lambda row: bool(row["answer_translations"]))
    assert dash["answer_translations"] == {"pl": POLISH_A}
    assert (dash["answer"], dash["answer_needs"], dash["translation_state"]) == (
        None,
        ["en"],
        "partial",
    )
    assert (await mod.command("written.publish", question="q-1"))["type"] == "ack"

    # The asker's mail: Polish first, the Chinese original below.
    [_, answer] = await world.sink.wait_for(2)
    assert answer.rcpt_tos == [ASKER]
    assert answer.msg["Content-Language"] == "pl"
    body = _text(answer)
    assert body.index(POLISH_A) < body.index("Odpowiedź w oryginale:") < body.index(CHINESE_A)

    # The public page: the reader's language, the original one click away.
    live = f"{running.base_url}/c/{running.conference}/live"
    async with running.client.session.get(live, params={"lang": "pl"}) as resp:
        polish = html.unescape(await resp.text())
    assert f'<div class="written-a" lang="pl">{POLISH_A}</div>' in polish
    assert f'<div class="written-a" lang="zh">{CHINESE_A}</div>' in polish  # in <details>
    async with running.client.session.get(live, params={"lang": "zh"}) as resp:
        chinese = html.unescape(await resp.text())
    assert f'<p class="written-q" lang="zh">{CHINESE_Q}</p>' in chinese
    assert f'<div class="written-a" lang="zh">{CHINESE_A}</div>' in chinese

    # The report keeps both, question and answer.
    report = f"{running.base_url}/j/{running.token('moderator')}/report"
    async with running.client.session.get(report, params={"format": "json"}) as resp:
        data = await resp.json(content_type=None)
    (q,) = [q for q in data["questions"] if q["id"] == "q-1"]
    assert (q["text"], q["translations"]) == (POLISH_Q, {"zh": CHINESE_Q})
    assert q["answer"]["text"] == CHINESE_A
    assert q["written"]["answer_translations"] == {"pl": POLISH_A}
