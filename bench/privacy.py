"""Erasing one person from a big SQLite store: ``confsvc privacy erase`` end to end.

    python3 bench/privacy.py [--questions 5000] [--mails 500]

A conference on the sample agenda with ``--questions`` questions (every 20th asked by
the person, every 7th naming her in its text) and ``--mails`` stored inbound mails
(raw, 2-3 kB each, every 10th from her). ``export_s``: ``privacy export``; ``erase_s``:
identify, rewrite every event and outbox row, fold check, one transaction;
``vacuum_s``: ``VACUUM`` and the truncating checkpoint. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import created_event
from confsvc.privacy import erase_person, export_person
from confsvc.resources import sample_agenda
from confsvc.store import NewRecord, open_store

NAME = "Zofia Wiśniewska"
EMAIL = "zofia.wisniewska@example.pl"


def _raw(i: int, hers: bool) -> str:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(NAME, "zofia.wisniewska", "example.pl") if hers else f"x{i}@a.org"
    msg["To"] = "answers@confsvc.localhost"
    msg["Subject"] = f"Re: question {i}"
    msg["Message-ID"] = f"<m{i}@bench>"
    msg.set_content(("Odpowiedź na pytanie. " * 60) + (NAME if hers else ""))
    return base64.b64encode(msg.as_bytes()).decode()


async def run(n_questions: int, n_mails: int, path: str) -> dict[str, float | int]:
    agenda = parse_agenda(Path(sample_agenda()).read_bytes())
    cid = agenda.conference.id
    created = created_event(agenda)
    records = [NewRecord(type=created.type, at=1.0, actor="system", data=created.data)]
    for i in range(1, n_questions + 1):
        hers = i % 20 == 0
        text = f"Question {i}" + (f", as {NAME} said" if i % 7 == 0 else "")
        data = {"id": f"q-{i}", "text": text, "language": "en", "site": None}
        data |= {"name": NAME if hers else f"Asker {i}", "email": EMAIL if hers else None}
        records.append(
            NewRecord(
                type="q.asked",
                at=2.0,
                actor="system",
                data={**data, "source": "live", "invite": None},
            )
        )
    for i in range(n_mails):
        hers = i % 10 == 0
        data = {"message_id": f"<m{i}@bench>", "from": EMAIL if hers else f"x{i}@a.org"}
        data |= {
            "from_name": NAME if hers else "",
            "subject": "Re",
            "text": "…",
            "reason": "unmatched",
        }
        records.append(
            NewRecord(
                type="written.mail_received",
                at=3.0,
                actor="system",
                data={**data, "raw": _raw(i, hers)},
            )
        )
    store = await open_store(path)
    try:
        await store.append(cid, 0, records)
        t0 = time.perf_counter()
        held = await export_person(store, email=EMAIL)
        t1 = time.perf_counter()
        done = await erase_person(store, email=EMAIL, compact=False)
        t2 = time.perf_counter()
        await store.compact()
        t3 = time.perf_counter()
    finally:
        await store.close()
    counts = done.conferences[cid]
    return {
        "events": len(records),
        "db_bytes": Path(path).stat().st_size,
        "exported_events": len(held["conferences"][0]["events"]),
        "rewritten_events": counts["events"],
        "export_s": round(t1 - t0, 3),
        "erase_s": round(t2 - t1, 3),
        "vacuum_s": round(t3 - t2, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--questions", type=int, default=5000)
    p.add_argument("--mails", type=int, default=500)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.questions, args.mails, str(Path(tmp) / "bench.db")))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
