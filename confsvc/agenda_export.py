"""Agenda exports: JSON, iCalendar (one VEVENT per item) and the pretalx/frab schedule JSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import icalendar

from confsvc.core.agenda import Agenda

FORMATS = ("json", "ics", "frab")


def _item_times(agenda: Agenda) -> list[tuple[dt.datetime, dt.datetime]]:
    t = agenda.conference.start
    out = []
    for item in agenda.items:
        end = t + dt.timedelta(minutes=item.minutes)
        out.append((t, end))
        t = end
    return out


def to_json(agenda: Agenda) -> str:
    data = agenda.to_data()
    data["items"] = [
        {**item, "planned_start": start.isoformat(), "planned_end": end.isoformat()}
        for item, (start, end) in zip(data["items"], _item_times(agenda), strict=True)
    ]
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def to_ics(agenda: Agenda, lang: str | None = None) -> str:
    lang = lang or agenda.default_language
    cal = icalendar.Calendar()
    cal.add("prodid", "-//confsvc//agenda//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", agenda.text(agenda.conference.title, lang))
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sites = {s.id: s for s in agenda.sites}
    for item, (start, end) in zip(agenda.items, _item_times(agenda), strict=True):
        ev = icalendar.Event()
        ev.add("uid", f"{agenda.conference.id}-{item.id}@confsvc")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", start.astimezone(dt.UTC))
        ev.add("dtend", end.astimezone(dt.UTC))
        ev.add("summary", agenda.text(item.title, lang))
        floor = ", ".join(agenda.text(sites[s].name, lang) for s in item.floor if s in sites)
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


def to_frab(agenda: Agenda, lang: str | None = None) -> str:
    """The frab/pretalx ``schedule.json`` shape (version, conference, days, rooms, talks)."""
    lang = lang or agenda.default_language
    conf = agenda.conference
    times = _item_times(agenda)
    sites = {s.id: s for s in agenda.sites}
    room = agenda.text(conf.title, lang)
    days: dict[str, list[dict[str, Any]]] = {}
    for n, (item, (start, _end)) in enumerate(zip(agenda.items, times, strict=True), start=1):
        minutes = round(item.minutes)
        talk = {
            "id": n,
            "guid": f"{conf.id}-{item.id}",
            "date": start.isoformat(),
            "start": start.strftime("%H:%M"),
            "duration": f"{minutes // 60:02d}:{minutes % 60:02d}",
            "room": room,
            "slug": f"{conf.id}-{item.id}",
            "title": agenda.text(item.title, lang),
            "subtitle": "",
            "track": item.kind,
            "type": item.kind,
            "language": lang,
            "abstract": "",
            "description": "",
            "persons": [{"public_name": item.speaker}] if item.speaker else [],
            "links": [],
            "attachments": [],
            "floor": [agenda.text(sites[s].name, lang) for s in item.floor if s in sites],
        }
        days.setdefault(start.date().isoformat(), []).append(talk)
    end = times[-1][1]
    schedule = {
        "schedule": {
            "version": "1",
            "base_url": "",
            "conference": {
                "acronym": conf.id,
                "title": agenda.text(conf.title, lang),
                "start": conf.start.date().isoformat(),
                "end": end.date().isoformat(),
                "daysCount": len(days),
                "timeslot_duration": "00:05",
                "time_zone_name": agenda.sites[0].timezone,
                "rooms": [{"name": room}],
                "days": [
                    {
                        "index": i,
                        "date": date,
                        "day_start": talks[0]["date"],
                        "day_end": end.isoformat(),
                        "rooms": {room: talks},
                    }
                    for i, (date, talks) in enumerate(sorted(days.items()), start=1)
                ],
            },
        }
    }
    return json.dumps(schedule, ensure_ascii=False, indent=2) + "\n"


def export(agenda: Agenda, fmt: str) -> str:
    if fmt == "json":
        return to_json(agenda)
    if fmt == "ics":
        return to_ics(agenda)
    if fmt == "frab":
        return to_frab(agenda)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
