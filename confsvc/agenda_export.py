"""Agenda exports: JSON, iCalendar (one VEVENT per item, in one language) and the
schedule that conference tools read, as frab/pretalx JSON and frab XML.

The schedule follows the c3voc schema (``validator/json/schema.json`` and
``validator/xsd/schedule.xml.xsd`` of github.com/voc/schedule, vendored in
``tests/fixtures/schedule/`` and checked there): one room (the conference: every site is
in the same call), one event per agenda item, each with a stable UUID (uuid5 of
``NAMESPACE`` and ``<conference>/<item>``, as pretalx emits UUIDs), a URL on the live
page and its speaker as a person. The floor (which sites are heard) goes in the
description, as in the ICS. Served at ``/c/<id>/schedule.json``, ``.xml`` and ``.ics``
(pretalx's paths) by ``confsvc.http.schedule``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
import xml.etree.ElementTree as ET
import zoneinfo
from typing import Any

import icalendar

from confsvc import __version__
from confsvc.core.agenda import Agenda

FORMATS = ("json", "ics", "frab", "xml")
# Never change: every event's and room's guid is derived from it.
NAMESPACE = uuid.UUID("5b0c7f1e-2a8e-4f5c-9d39-6a1f3c0e7b42")
# The base of the URLs when no public URL is known (confsvc's default listening address).
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
SCHEDULE_VERSION = "1"


def _item_times(agenda: Agenda) -> list[tuple[dt.datetime, dt.datetime]]:
    t = agenda.conference.start
    out = []
    for item in agenda.items:
        end = t + dt.timedelta(minutes=item.minutes)
        out.append((t, end))
        t = end
    return out


def _lang(agenda: Agenda, lang: str | None) -> str:
    if lang is None:
        return agenda.default_language
    if lang not in agenda.conference.languages:
        raise ValueError(
            f"language {lang!r} is not one of the agenda's: {', '.join(agenda.conference.languages)}"
        )
    return lang


def to_json(agenda: Agenda) -> str:
    data = agenda.to_data()
    data["items"] = [
        {**item, "planned_start": start.isoformat(), "planned_end": end.isoformat()}
        for item, (start, end) in zip(data["items"], _item_times(agenda), strict=True)
    ]
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _floor(agenda: Agenda, floor: list[str], lang: str) -> str:
    sites = {s.id: s for s in agenda.sites}
    return ", ".join(agenda.text(sites[s].name, lang) for s in floor if s in sites)


def to_ics(agenda: Agenda, lang: str | None = None) -> str:
    """iCalendar in ``lang`` (default: the agenda's first language); the titles in the
    other languages follow in each description."""
    lang = _lang(agenda, lang)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//confsvc//agenda//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", agenda.text(agenda.conference.title, lang))
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for item, (start, end) in zip(agenda.items, _item_times(agenda), strict=True):
        ev = icalendar.Event()
        ev.add("uid", f"{agenda.conference.id}-{item.id}@confsvc")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", start.astimezone(dt.UTC))
        ev.add("dtend", end.astimezone(dt.UTC))
        ev.add("summary", agenda.text(item.title, lang))
        floor = _floor(agenda, item.floor, lang)
        lines = [f"{lang}: {agenda.text(item.title, lang)}"]
        lines += [f"{code}: {text}" for code, text in item.title.items() if code != lang]
        if item.speaker:
            lines.append(f"Speaker: {item.speaker}")
        if floor:
            lines.append(f"Floor: {floor}")
        ev.add("description", "\n".join(lines))
        ev.add("categories", [item.kind])
        if floor:
            ev.add("location", floor)
        cal.add_component(ev)
    return str(cal.to_ical().decode("utf-8"))


def guid(conference: str, key: str) -> str:
    """A stable UUID for ``key`` (an item id, ``room``, ``person/<name>``) of a conference."""
    return str(uuid.uuid5(NAMESPACE, f"{conference}/{key}"))


def acronym(conference: str) -> str:
    """The conference id as the schema's acronym (``[a-z0-9_]``, at least four)."""
    return re.sub(r"[^a-z0-9_]", "_", conference.lower()).ljust(4, "_")


def _duration(minutes: float) -> str:
    m = round(minutes)
    return f"{m // 60:02d}:{m % 60:02d}"


def schedule(
    agenda: Agenda, lang: str | None = None, base_url: str | None = None
) -> dict[str, Any]:
    """The schedule as data (the JSON shape; ``to_frab_xml`` writes the same as XML)."""
    lang = _lang(agenda, lang)
    conf = agenda.conference
    site = (base_url or DEFAULT_BASE_URL).rstrip("/")
    base = f"{site}/c/{conf.id}/"
    tz_name = agenda.sites[0].timezone if agenda.sites else "UTC"
    tz = zoneinfo.ZoneInfo(tz_name)
    room = agenda.text(conf.title, lang)
    days: dict[str, list[dict[str, Any]]] = {}
    ends: dict[str, dt.datetime] = {}
    for n, (item, (t0, t1)) in enumerate(zip(agenda.items, _item_times(agenda), strict=True), 1):
        start, end = t0.astimezone(tz), t1.astimezone(tz)
        floor = _floor(agenda, item.floor, lang)
        name = item.speaker
        event = {
            "id": n,
            "guid": guid(conf.id, item.id),
            "date": start.isoformat(),
            "start": start.strftime("%H:%M"),
            "end": end.isoformat(),
            "duration": _duration(item.minutes),
            "room": room,
            "slug": f"{conf.id}-{item.id}",
            "url": f"{base}live#item-{item.id}",
            "title": agenda.text(item.title, lang),
            "subtitle": "",
            "track": item.kind,
            "type": item.kind,
            "language": lang,
            "abstract": "",
            "description": f"Floor: {floor}" if floor else "",
            "persons": [
                {"name": name, "public_name": name, "guid": guid(conf.id, f"person/{name}")}
            ]
            if name
            else [],
            "links": [],
            "attachments": [],
        }
        day = start.date().isoformat()
        days.setdefault(day, []).append(event)
        ends[day] = end
    last = _item_times(agenda)[-1][1].astimezone(tz)
    return {
        "$schema": "https://c3voc.de/schedule/schema.json",
        "generator": {"name": "confsvc", "version": __version__},
        "schedule": {
            "version": SCHEDULE_VERSION,
            "base_url": base,
            "conference": {
                "acronym": acronym(conf.id),
                "title": room,
                "start": conf.start.astimezone(tz).date().isoformat(),
                "end": last.date().isoformat(),
                "daysCount": len(days),
                "timeslot_duration": "00:05",
                "time_zone_name": tz_name,
                "url": f"{base}live",
                "rooms": [{"name": room, "guid": guid(conf.id, "room")}],
                "days": [
                    {
                        "index": i,
                        "date": date,
                        "day_start": events[0]["date"],
                        "day_end": ends[date].isoformat(),
                        "rooms": {room: events},
                    }
                    for i, (date, events) in enumerate(sorted(days.items()), start=1)
                ],
            },
        },
    }


def to_frab(agenda: Agenda, lang: str | None = None, base_url: str | None = None) -> str:
    """frab/pretalx ``schedule.json``."""
    return json.dumps(schedule(agenda, lang, base_url), ensure_ascii=False, indent=2) + "\n"


def _sub(parent: ET.Element, tag: str, text: object = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = str(text)
    return el


# The XSD's <event> children (an xs:all) that the JSON has under the same name.
_XML_EVENT_FIELDS = (
    "room", "title", "subtitle", "type", "date", "start", "duration", "abstract", "slug",
    "track", "language", "description", "url",
)  # fmt: skip


def to_frab_xml(agenda: Agenda, lang: str | None = None, base_url: str | None = None) -> str:
    """frab ``schedule.xml`` (the same schedule as ``to_frab``)."""
    data = schedule(agenda, lang, base_url)
    s, conf = data["schedule"], data["schedule"]["conference"]
    root = ET.Element("schedule")
    _sub(root, "generator", name="confsvc", version=__version__)
    _sub(root, "url", f"{s['base_url']}schedule.xml")
    _sub(root, "version", s["version"])
    c = _sub(root, "conference")
    _sub(c, "acronym", conf["acronym"])
    _sub(c, "title", conf["title"])
    _sub(c, "start", conf["start"])
    _sub(c, "end", conf["end"])
    _sub(c, "days", conf["daysCount"])
    _sub(c, "timeslot_duration", conf["timeslot_duration"])
    _sub(c, "base_url", s["base_url"])
    _sub(c, "url", conf["url"])
    _sub(c, "time_zone_name", conf["time_zone_name"])
    rooms = {r["name"]: r["guid"] for r in conf["rooms"]}
    for day in conf["days"]:
        d = _sub(
            root,
            "day",
            index=str(day["index"]),
            date=day["date"],
            start=day["day_start"],
            end=day["day_end"],
        )
        for name, events in day["rooms"].items():
            r = _sub(d, "room", name=name, guid=rooms[name])
            for ev in events:
                e = _sub(r, "event", id=str(ev["id"]), guid=ev["guid"])
                for fld in _XML_EVENT_FIELDS:
                    _sub(e, fld, ev[fld])
                persons = _sub(e, "persons")
                for p in ev["persons"]:
                    _sub(persons, "person", p["name"], guid=p["guid"])
                _sub(e, "links")
                _sub(e, "attachments")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"


def export(
    agenda: Agenda, fmt: str, *, lang: str | None = None, base_url: str | None = None
) -> str:
    """``fmt`` is one of ``FORMATS``; ``lang`` picks the titles' language (default: the
    agenda's first); ``base_url`` is the server's public URL (for the schedule's URLs)."""
    if fmt == "json":
        return to_json(agenda)
    if fmt == "ics":
        return to_ics(agenda, lang)
    if fmt == "frab":
        return to_frab(agenda, lang, base_url)
    if fmt == "xml":
        return to_frab_xml(agenda, lang, base_url)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
