"""The schedule other tools read: frab JSON against the c3voc JSON schema, frab XML against
the c3voc XSD (both vendored in tests/fixtures/schedule/), ICS per language, from the
command line and served at /c/<id>/schedule.{json,xml,ics}."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import icalendar
import pytest
from jsonschema import Draft6Validator, FormatChecker
from lxml import etree

from confsvc.agenda_export import NAMESPACE, to_frab, to_frab_xml
from confsvc.core.agenda import parse_agenda
from tests.conftest import SAMPLE, Running

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "schedule"
AGENDA = parse_agenda(SAMPLE.read_bytes())
JSON_SCHEMA = Draft6Validator(
    json.loads((FIXTURES / "schema.json").read_text("utf-8")), format_checker=FormatChecker()
)
XSD = etree.XMLSchema(etree.parse(str(FIXTURES / "schedule.xml.xsd")))


def json_errors(data: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in JSON_SCHEMA.iter_errors(data)
    ]


def xml_errors(text: str) -> list[str]:
    doc = etree.fromstring(text.encode("utf-8"))
    XSD.validate(doc)
    return [f"{e.line}: {e.message}" for e in XSD.error_log]


def test_the_vendored_validators_check_formats_and_patterns() -> None:
    # What today's export had wrong must be an error: else a pass would mean nothing.
    data = json.loads(to_frab(AGENDA))
    event = data["schedule"]["conference"]["days"][0]["rooms"]
    talk = next(iter(event.values()))[0]
    talk["guid"] = "weifang-olsztyn-2020-opening-warsaw"
    talk["floor"] = ["Warsaw"]
    data["schedule"]["base_url"] = ""
    assert len(json_errors(data)) == 3
    bad_xml = to_frab_xml(AGENDA).replace('guid="', 'guid="x', 1)
    assert len(xml_errors(bad_xml)) == 1


@pytest.mark.parametrize("lang", AGENDA.conference.languages)
def test_frab_json_and_xml_pass_the_c3voc_schemas(lang: str) -> None:
    assert json_errors(json.loads(to_frab(AGENDA, lang))) == []
    assert xml_errors(to_frab_xml(AGENDA, lang)) == []


def test_guids_are_stable_uuid5_and_the_same_in_json_and_xml() -> None:
    data = json.loads(to_frab(AGENDA))["schedule"]["conference"]
    talks = [t for day in data["days"] for room in day["rooms"].values() for t in room]
    guids = [t["guid"] for t in talks]
    assert guids == [
        str(uuid.uuid5(NAMESPACE, f"{AGENDA.conference.id}/{item.id}")) for item in AGENDA.items
    ]
    assert len(set(guids)) == len(AGENDA.items)
    assert all(uuid.UUID(g).version == 5 for g in guids)
    assert guids == [t["guid"] for t in json.loads(to_frab(AGENDA, "pl"))["schedule"]["conference"]["days"][0]["rooms"].popitem()[1]]  # fmt: skip
    doc = etree.fromstring(to_frab_xml(AGENDA).encode())
    assert doc.xpath("//event/@guid") == guids
    assert data["rooms"][0]["guid"] == doc.xpath("//room/@guid")[0]
    speakers = [t["persons"] for t in talks if t["persons"]]
    assert speakers[0] == [
        {
            "name": AGENDA.items[0].speaker,
            "public_name": AGENDA.items[0].speaker,
            "guid": str(uuid.uuid5(NAMESPACE, f"{AGENDA.conference.id}/person/{AGENDA.items[0].speaker}")),
        }
    ]  # fmt: skip


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confsvc", "agenda", "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def _summaries(ics: str) -> list[str]:
    cal = icalendar.Calendar.from_ical(ics)
    return [str(ev["summary"]) for ev in cal.walk("VEVENT")]


def test_cli_exports_frab_json_xml_and_ics_per_language(tmp_path: Path) -> None:
    done = cli("--format", "frab", "--public-url", "https://conf.example.org/x/", str(SAMPLE), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert json_errors(data) == []
    assert data["schedule"]["base_url"] == "https://conf.example.org/x/c/weifang-olsztyn-2020/"
    done = cli("--format", "xml", "--lang", "en", str(SAMPLE), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert xml_errors(done.stdout) == []
    for lang in AGENDA.conference.languages:
        done = cli("--format", "ics", "--lang", lang, str(SAMPLE), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert _summaries(done.stdout) == [it.title[lang] for it in AGENDA.items]
    done = cli("--format", "ics", "--lang", "de", str(SAMPLE), cwd=tmp_path)
    assert done.returncode == 1
    assert "language 'de' is not one of the agenda's: zh, pl, en" in done.stderr


SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


async def test_schedules_are_served_public_with_types_and_security_headers(
    running: Running,
) -> None:
    base = f"/c/{running.conference}/schedule"
    resp = await running.client.get(f"{base}.json")
    assert (resp.status, resp.content_type, resp.charset) == (200, "application/json", "utf-8")
    data = json.loads(await resp.text())
    assert json_errors(data) == []
    assert data["schedule"]["base_url"] == f"{running.config.base_url}/c/{running.conference}/"
    resp = await running.client.get(f"{base}.xml?lang=pl")
    assert (resp.status, resp.content_type) == (200, "application/xml")
    text = await resp.text()
    assert xml_errors(text) == []
    assert AGENDA.items[0].title["pl"] in text
    for lang in AGENDA.conference.languages:
        resp = await running.client.get(f"{base}.ics?lang={lang}")
        assert (resp.status, resp.content_type) == (200, "text/calendar")
        assert _summaries(await resp.text()) == [it.title[lang] for it in AGENDA.items]
        assert [h for h in SECURITY_HEADERS if h not in resp.headers] == []
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    resp = await running.client.get(f"{base}.ics")
    assert _summaries(await resp.text()) == [it.title["zh"] for it in AGENDA.items]
    resp = await running.client.get(f"{base}.ics?lang=de")
    assert resp.status == 400
    body = await resp.json()
    assert body["code"] == "bad_request"
    assert body["message"] == "lang: 'de' is not one of this conference's languages (zh, pl, en)"
    resp = await running.client.get("/c/no-such-conference/schedule.json")
    assert resp.status == 404
    assert [h for h in SECURITY_HEADERS if h not in resp.headers] == []
