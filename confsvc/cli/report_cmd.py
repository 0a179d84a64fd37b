"""``confsvc report``, ``confsvc export`` and ``confsvc import``.

The report reads a conference from the store (or runs the scripted session with
``--scripted``); export writes the whole event log as JSON; import rebuilds a conference
from such a file into a store that does not have it yet (all events or none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from confsvc.core.conference import ConferenceState
from confsvc.core.events import Event
from confsvc.core.registry import RULES

EXPORT_FORMAT = "confsvc-conference"
EXPORT_VERSION = 1


def register(sub: Any) -> None:
    from confsvc.cli.main import add_config_option

    p = sub.add_parser("report", help="the post-session report as HTML, Markdown, JSON or CSV")
    p.add_argument("--conference", default=None, help="conference id (default: the only one)")
    p.add_argument("--format", choices=["html", "md", "json", "csv"], default="html")
    add_config_option(p)
    p.add_argument("--db", default="confsvc.db", help="SQLite file or postgresql://… DSN")
    p.add_argument("--public", action="store_true", help="leave out what only organisers see")
    p.add_argument("--lang", choices=["en", "pl", "zh"], default="en")
    p.add_argument("--output", "-o", default=None, help="file (default: standard output)")
    p.add_argument(
        "--scripted",
        type=Path,
        default=None,
        metavar="AGENDA",
        help="report a scripted session on AGENDA instead of the store",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write a conference's whole event log as JSON")
    p.add_argument("--conference", default=None)
    add_config_option(p)
    p.add_argument("--db", default="confsvc.db", help="SQLite file or postgresql://… DSN")
    p.add_argument("--output", "-o", default=None)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="rebuild a conference from an export into a store")
    p.add_argument("path", type=Path)
    add_config_option(p)
    p.add_argument("--db", default="confsvc.db", help="SQLite file or postgresql://… DSN")
    p.set_defaults(func=cmd_import)


def _db(args: argparse.Namespace) -> str:
    """The store, read like ``serve`` reads it: confsvc.toml, ``CONFSVC_DB``, ``--db``."""
    from confsvc.cli.main import config_from

    return config_from(args, media=False).db


def _write(text: str, output: str | None) -> None:
    if output and output != "-":
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


async def _load(db: str, conference: str | None) -> tuple[ConferenceState, list[Event]]:
    from confsvc.store import open_store

    store = await open_store(db)
    try:
        have = await store.list_conferences()
        if conference is None:
            if len(have) != 1:
                raise SystemExit(
                    f"confsvc: name the conference with --conference (the store has: {', '.join(have) or 'none'})"
                )
            conference = have[0]
        if conference not in have:
            raise SystemExit(f"confsvc: no conference {conference!r} in {db}")
        events = await store.read(conference)
    finally:
        await store.close()
    state = RULES.new_state(conference)
    for e in events:
        RULES.fold(state, e)
    return state, events


def cmd_report(args: argparse.Namespace) -> int:
    from confsvc.i18n import I18n
    from confsvc.report import build, render

    if args.scripted is not None:
        from confsvc.cli.main import _check_agendas
        from confsvc.scripted import run

        agendas = _check_agendas([args.scripted])
        if agendas is None:
            return 1
        session = run(agendas[0])
        state, now = session.state, session.now
    else:
        state, _ = asyncio.run(_load(_db(args), args.conference))
        now = time.time()
    data = build(state, now, public=args.public)
    _write(render(I18n(), data, args.format, args.lang), args.output)
    return 0


def export_data(conference: str, events: list[Event]) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "conference": conference,
        "events": [e.as_dict() for e in events],
    }


def cmd_export(args: argparse.Namespace) -> int:
    state, events = asyncio.run(_load(_db(args), args.conference))
    _write(json.dumps(export_data(state.id, events), ensure_ascii=False) + "\n", args.output)
    return 0


class ImportError_(Exception):
    pass


def check_export(data: Any) -> tuple[str, list[Event]]:
    """Validate an export and fold it; ``ImportError_`` names the first problem."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ImportError_(f"not a confsvc conference export (format must be {EXPORT_FORMAT!r})")
    if data.get("version") != EXPORT_VERSION:
        raise ImportError_(f"unsupported export version {data.get('version')!r}")
    conference = data.get("conference")
    raw = data.get("events")
    if not isinstance(conference, str) or not isinstance(raw, list) or not raw:
        raise ImportError_("the export needs a conference id and a non-empty list of events")
    events = []
    state = RULES.new_state(conference)
    for n, e in enumerate(raw, start=1):
        try:
            event = Event(
                seq=int(e["seq"]),
                type=str(e["type"]),
                at=float(e["at"]),
                actor=str(e["actor"]),
                data=dict(e["data"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ImportError_(f"event {n}: malformed ({exc})") from None
        if event.seq != n:
            raise ImportError_(f"event {n}: seq is {event.seq}, expected {n}")
        try:
            RULES.fold(state, event)
        except Exception as exc:
            raise ImportError_(f"event {n} ({event.type}): does not apply: {exc}") from None
        events.append(event)
    if not state.exists:
        raise ImportError_("the export has no conference.created event")
    return conference, events


async def _import(path: Path, db: str) -> int:
    from confsvc.store import ConcurrencyError, NewRecord, open_store

    try:
        data = json.loads(path.read_bytes())
        conference, events = check_export(data)
    except (OSError, ValueError, ImportError_) as exc:
        print(f"confsvc import: {path}: {exc}", file=sys.stderr)
        return 1
    store = await open_store(db)
    try:
        records = [NewRecord(type=e.type, at=e.at, actor=e.actor, data=e.data) for e in events]
        try:
            await store.append(conference, 0, records)
        except ConcurrencyError:
            print(
                f"confsvc import: conference {conference!r} already exists in {db}", file=sys.stderr
            )
            return 1
    finally:
        await store.close()
    print(f"imported {conference}: {len(events)} events")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    return asyncio.run(_import(args.path, _db(args)))
