"""``confsvc questions import|export``: pre-session questions from a CSV file, and the
queue with its whole history as CSV or JSON, straight against the store.

An import is one append: every row or none. A running server on the same store sees the
imported questions at its next append (or at once, with ``--redis``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from confsvc.core.errors import DomainError
from confsvc.core.events import Command, Principal
from confsvc.core.questions import ImportProblems, parse_import_csv
from confsvc.core.roles import Role

IMPORTER = Principal(role=Role.SYSTEM, invite="cli-import")


def register(sub: Any) -> None:
    from confsvc.cli.main import add_config_option

    p = sub.add_parser("questions", help="import pre-session questions, export the queue")
    qsub = p.add_subparsers(dest="questions_command", required=True)
    i = qsub.add_parser(
        "import",
        help="import a CSV (columns text, language, asker, site, email): all rows or none",
    )
    i.add_argument("--conference", required=True, help="conference id")
    add_config_option(i)
    i.add_argument("--db", default="confsvc.db", help="SQLite file or postgresql://… DSN")
    i.add_argument("--redis", default=None, help="redis://… to tell running nodes at once")
    i.add_argument("file", type=Path)
    i.set_defaults(func=cmd_import)
    e = qsub.add_parser("export", help="the questions with their whole history")
    e.add_argument("--conference", required=True, help="conference id")
    add_config_option(e)
    e.add_argument("--db", default="confsvc.db", help="SQLite file or postgresql://… DSN")
    e.add_argument("--format", choices=["csv", "json"], default="csv")
    e.add_argument("--output", "-o", default=None, help="file to write (default: standard output)")
    e.set_defaults(func=cmd_export)


def _problem_lines(path: Path, problems: list[str]) -> list[str]:
    # "line 7: message" -> "FILE:7: message", like `confsvc agenda check`.
    out = []
    for p in problems:
        head, _, rest = p.partition(": ")
        out.append(f"{path}:{head.removeprefix('line ')}: {rest}" if rest else f"{path}: {p}")
    return out


async def _open(args: argparse.Namespace) -> Any:
    from confsvc.bus import Bus, LocalBus
    from confsvc.cli.main import config_from
    from confsvc.service import Hubs
    from confsvc.store import open_store

    cfg = config_from(args, media=False)  # confsvc.toml and CONFSVC_* like serve; flags win
    store = await open_store(cfg.db)
    bus: Bus
    if "redis" in args and cfg.redis:  # only the import tells running nodes
        from confsvc.bus.redis import RedisBus

        bus = RedisBus(cfg.redis)
    else:
        bus = LocalBus()
    await bus.start()
    return store, bus, Hubs(store, bus)


async def _import(args: argparse.Namespace) -> int:
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        print(f"{args.file}:1: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    rows, problems = parse_import_csv(raw)
    if problems:
        print("\n".join(_problem_lines(args.file, problems)), file=sys.stderr)
        print(f"{args.file}: nothing imported", file=sys.stderr)
        return 1
    store, bus, hubs = await _open(args)
    try:
        hub = await hubs.get(args.conference)
        events = await hub.execute(
            IMPORTER, Command(name="q.import", args={"rows": [r.model_dump() for r in rows]})
        )
    except ImportProblems as exc:
        print("\n".join(_problem_lines(args.file, exc.problems)), file=sys.stderr)
        print(f"{args.file}: nothing imported", file=sys.stderr)
        return 1
    except DomainError as exc:
        print(f"confsvc questions import: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await bus.close()
        await store.close()
    ids = [e.data["id"] for e in events if e.type == "q.asked"]
    print(f"imported {len(ids)} questions: {ids[0]} … {ids[-1]}" if ids else "imported 0")
    return 0


async def _export(args: argparse.Namespace) -> int:
    from confsvc.questions.export import export_csv, export_json

    store, bus, hubs = await _open(args)
    try:
        hub = await hubs.get(args.conference)
    except DomainError as exc:
        print(f"confsvc questions export: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await bus.close()
        await store.close()
    if args.format == "json":
        text = json.dumps(export_json(hub.state), ensure_ascii=False, indent=2) + "\n"
    else:
        text = export_csv(hub.state)
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    return asyncio.run(_import(args))


def cmd_export(args: argparse.Namespace) -> int:
    return asyncio.run(_export(args))
