"""Agenda parsing: the sample loads; every kind of mistake is reported with its position."""

from __future__ import annotations

import textwrap

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from confsvc.core.agenda import MAX_AGENDA_BYTES, Agenda, AgendaError, parse_agenda
from tests.conftest import SAMPLE

GOOD = textwrap.dedent(
    """\
    conference:
      id: t-1
      title: {zh: 会议, pl: Konferencja, en: Conference}
      languages: [zh, pl, en]
      start: 2020-05-26T09:00:00+02:00
    sites:
      - id: a
        name: {zh: 甲, pl: A, en: A}
        timezone: Europe/Warsaw
      - id: b
        name: {zh: 乙, pl: B, en: B}
        timezone: Asia/Shanghai
    items:
      - id: one
        kind: remarks
        title: {zh: 一, pl: Jeden, en: One}
        minutes: 5
        floor: [a]
      - id: two
        kind: break
        title: {zh: 二, pl: Dwa, en: Two}
        minutes: 10
        floor: []
    """
)


def problems(text: str | bytes) -> list[str]:
    with pytest.raises(AgendaError) as info:
        parse_agenda(text)
    return [p.format("f.yaml") for p in info.value.problems]


def test_sample_agenda_loads_as_the_event_had_it() -> None:
    agenda = parse_agenda(SAMPLE.read_bytes())
    assert agenda.site_ids == ["warsaw", "olsztyn", "weifang"]
    assert agenda.conference.languages == ["zh", "pl", "en"]
    assert [i.kind for i in agenda.items].count("qa") == 1
    assert 100 <= agenda.planned_total_minutes() <= 130  # "close to two hours"
    assert agenda.items[0].floor == ["warsaw"]


def test_good_agenda_loads() -> None:
    agenda = parse_agenda(GOOD)
    assert isinstance(agenda, Agenda)
    assert agenda.items[1].floor == []
    assert agenda.text(agenda.items[0].title, "pl") == "Jeden"


def test_round_trip_through_data_is_identical() -> None:
    agenda = parse_agenda(SAMPLE.read_bytes())
    assert Agenda.model_validate(agenda.to_data()) == agenda


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "minutes: 5",
            "minutes: 0",
            "f.yaml:17:14: items[0].minutes: Input should be greater than 0",
        ),
        (
            "minutes: 5",
            "minutes: -3",
            "f.yaml:17:14: items[0].minutes: Input should be greater than 0",
        ),
        ("floor: [a]", "floor: [a, zz]", "f.yaml:18:16: items[0].floor names unknown site 'zz'"),
        (
            "timezone: Asia/Shanghai",
            "timezone: Mars/Olympus",
            "f.yaml:12:15: sites[1].timezone: unknown time zone 'Mars/Olympus'",
        ),
        ("  - id: two", "  - id: one", "f.yaml:19:9: duplicate item id 'one' (first at items[0])"),
        ("  - id: b", "  - id: a", "f.yaml:10:9: duplicate site id 'a' (first at sites[0])"),
        (
            "title: {zh: 一, pl: Jeden, en: One}",
            "title: {zh: 一, en: One}",
            "f.yaml:16:12: items[0].title has no text in declared language 'pl'",
        ),
        (
            "kind: remarks",
            "kind: speech",
            "f.yaml:15:11: items[0].kind: Input should be 'remarks', 'presentation', 'qa', 'break' or 'other'",
        ),
        (
            "    minutes: 5\n",
            "    minutes: 5\n    colour: red\n",
            "f.yaml:18:5: unknown key 'colour' in items[0]",
        ),
        ("    minutes: 5\n", "", "f.yaml:14:5: missing field items[0].minutes"),
        (
            "  id: t-1",
            "  id: T_1",
            "f.yaml:2:7: conference.id: String should match pattern '^[a-z0-9-]+$'",
        ),
        (
            "start: 2020-05-26T09:00:00+02:00",
            "start: 2020-05-26T09:00:00",
            "f.yaml:5:10: conference.start: start needs a UTC offset, e.g. 2020-05-26T09:00:00+02:00",
        ),
    ],
)
def test_each_mistake_is_reported_at_its_line_and_column(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert expected in problems(GOOD.replace(old, new, 1))


def test_every_problem_is_reported_not_just_the_first() -> None:
    bad = GOOD.replace("minutes: 5", "minutes: 0").replace("floor: [a]", "floor: [q]")
    bad = bad.replace("timezone: Asia/Shanghai", "timezone: Nowhere")
    found = problems(bad)
    assert len(found) == 3
    assert [p.split(":")[1] for p in found] == ["12", "17", "18"]  # in file order


def test_yaml_syntax_error_has_position() -> None:
    assert problems("conference: [1, 2\nsites: x\n") == [
        "f.yaml:2:6: YAML syntax error: expected ',' or ']', but got ':'"
    ]


def test_duplicate_yaml_keys_are_refused() -> None:
    assert "f.yaml:24:1: duplicate key 'conference'" in problems(GOOD + "conference: {}\n")


def test_alias_bomb_is_refused_before_expansion() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    assert problems(bomb) == ["f.yaml:1:4: YAML anchors and aliases are not allowed"]


def test_file_over_one_mebibyte_is_refused() -> None:
    assert problems(b"#" * (MAX_AGENDA_BYTES + 1)) == [
        f"f.yaml:1:1: file is larger than {MAX_AGENDA_BYTES} bytes"
    ]


def test_non_utf8_file_names_the_position() -> None:
    assert problems(GOOD.encode() + b"# \xff\n") == ["f.yaml:24:3: file is not UTF-8 text"]


@pytest.mark.parametrize("text", ["", "- 1\n- 2\n", "just text\n", "42\n"])
def test_not_a_mapping_is_refused(text: str) -> None:
    found = problems(text)
    assert len(found) == 1
    assert "must be a mapping" in found[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400))
def test_garbage_gives_agenda_error_never_another_exception(data: bytes | str) -> None:
    try:
        parse_agenda(data)
    except AgendaError as exc:
        assert exc.problems
        assert all(p.line >= 1 and p.col >= 1 for p in exc.problems)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD) - 1), st.text(max_size=8))
def test_mutated_agenda_gives_agenda_error_or_agenda(pos: int, insert: str) -> None:
    try:
        parse_agenda(GOOD[:pos] + insert + GOOD[pos:])
    except AgendaError as exc:
        assert exc.problems
