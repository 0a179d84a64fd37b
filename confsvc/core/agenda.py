"""The agenda a host loads: conference, sites, experts and items.

Owns parsing of the YAML text, validation (every problem with its line and column) and
the in-memory ``Agenda``. Reading the file from disk is the caller's job
(``confsvc.cli``); exports live in ``confsvc.agenda_export``.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_AGENDA_BYTES = 1024 * 1024
ID_PATTERN = r"^[a-z0-9-]+$"
MAX_ID_LENGTH = 64
_ID_RE = re.compile(ID_PATTERN)
ITEM_KINDS = ("remarks", "presentation", "qa", "break", "other")
KNOWN_LANGUAGES = ("zh", "pl", "en")


def id_problem(text: str) -> str | None:
    """Why ``text`` cannot be an agenda id (conference, site, item), or ``None`` if it can.

    Adapters ask this before any lookup, so an id no agenda can hold costs nothing.
    """
    if not text:
        return "an id cannot be empty"
    if len(text) > MAX_ID_LENGTH:
        return f"an id is at most {MAX_ID_LENGTH} characters; this one has {len(text)}"
    if _ID_RE.fullmatch(text) is None:
        return "an id has only lower-case letters a-z, digits 0-9 and '-'"
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Localized = dict[str, str]


class Conference(_Strict):
    id: str = Field(pattern=ID_PATTERN, max_length=64)
    title: Localized
    languages: list[str] = Field(min_length=1)
    start: dt.datetime
    # Record the media while the run of show runs (docs/agenda.md, docs/recording.md);
    # absent or false: only a host's rec.start records.
    recording: bool | None = None
    # The public live page plays the program while the run of show is under way (HLS,
    # when the server has a broadcast_dir). Off unless the agenda says so: it is public.
    broadcast: bool = False

    @field_validator("start")
    @classmethod
    def _has_offset(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2020-05-26T09:00:00+02:00")
        return v

    @field_validator("languages")
    @classmethod
    def _languages(cls, v: list[str]) -> list[str]:
        for lang in v:
            if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*", lang):
                raise ValueError(f"{lang!r} is not a language code like zh, pl or en")
        if len(set(v)) != len(v):
            raise ValueError("a language is listed twice")
        return v


class Site(_Strict):
    id: str = Field(pattern=ID_PATTERN, max_length=64)
    name: Localized
    timezone: str
    # The language the site answers in (optional): the translation desk translates the
    # questions it answers into it.
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)*$")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


EMAIL_PATTERN = r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$"


class Expert(_Strict):
    id: str = Field(pattern=ID_PATTERN, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    languages: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)


class Translator(_Strict):
    """A translator at the desk: an expert's shape without topics."""

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=254)
    languages: list[str] = Field(default_factory=list)


LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]+)*$"


class Interpreter(_Strict):
    """One interpreter of a booth: speaks into channel ``into``, listens to ``from``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    into: str = Field(pattern=LANGUAGE_PATTERN, max_length=16)
    sources: list[str] = Field(default_factory=list, alias="from", max_length=16)


class Interpretation(_Strict):
    """Interpretation channels (one per language in ``channels``) and their interpreters."""

    channels: list[str] = Field(min_length=1, max_length=16)
    interpreters: list[Interpreter] = Field(default_factory=list, max_length=200)

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        for lang in v:
            if not re.fullmatch(LANGUAGE_PATTERN, lang):
                raise ValueError(f"{lang!r} is not a language code like zh, pl or en")
        if len(set(v)) != len(v):
            raise ValueError("a channel is listed twice")
        return v

    def interpreter(self, interpreter_id: str) -> Interpreter | None:
        return next((i for i in self.interpreters if i.id == interpreter_id), None)

    def booth(self, channel: str) -> list[Interpreter]:
        """The interpreters who speak into ``channel``, in agenda order."""
        return [i for i in self.interpreters if i.into == channel]


class Item(_Strict):
    id: str = Field(pattern=ID_PATTERN, max_length=64)
    kind: Literal["remarks", "presentation", "qa", "break", "other"]
    title: Localized
    minutes: float = Field(gt=0, le=24 * 60)
    floor: list[str]
    speaker: str | None = Field(default=None, max_length=500)


class Agenda(_Strict):
    conference: Conference
    sites: list[Site] = Field(min_length=1)
    experts: list[Expert] = Field(default_factory=list)
    translators: list[Translator] = Field(default_factory=list)
    items: list[Item] = Field(min_length=1)
    interpretation: Interpretation | None = None

    # -- lookups ---------------------------------------------------------------
    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)

    def translator(self, translator_id: str) -> Translator | None:
        return next((t for t in self.translators if t.id == translator_id), None)

    def item_index(self, item_id: str) -> int | None:
        return next((i for i, it in enumerate(self.items) if it.id == item_id), None)

    @property
    def site_ids(self) -> list[str]:
        return [s.id for s in self.sites]

    @property
    def default_language(self) -> str:
        return self.conference.languages[0]

    def text(self, localized: Localized, lang: str) -> str:
        """The text in ``lang``, else the default language, else any."""
        return (
            localized.get(lang)
            or localized.get(self.default_language)
            or next(iter(localized.values()), "")
        )

    def planned_total_minutes(self) -> float:
        return sum(it.minutes for it in self.items)

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-ready data that ``Agenda.model_validate`` turns back into the same agenda."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    line: int
    col: int
    message: str

    def format(self, path: str) -> str:
        return f"{path}:{self.line}:{self.col}: {self.message}"


class AgendaError(Exception):
    """The agenda could not be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.line}:{p.col}: {p.message}" for p in problems))
        self.problems = problems


# -- YAML with positions -------------------------------------------------------

Path = tuple[str | int, ...]


class _Positions:
    """Line/column (1-based) of every key and value in the document, by path."""

    def __init__(self) -> None:
        self.value: dict[Path, tuple[int, int]] = {}
        self.key: dict[Path, tuple[int, int]] = {}

    def find(self, loc: Path, *, key: bool = False) -> tuple[int, int]:
        table = self.key if key else self.value
        for n in range(len(loc), -1, -1):
            pos = table.get(loc[:n]) or self.value.get(loc[:n])
            if pos is not None:
                return pos
        return (1, 1)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _to_python(
    node: yaml.Node, path: Path, pos: _Positions, problems: list[Problem], loader: yaml.SafeLoader
) -> Any:
    pos.value[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                line, col = _mark(key_node)
                problems.append(Problem(line=line, col=col, message=f"key {key!r} is not text"))
                key = str(key)
            if key in out:
                line, col = _mark(key_node)
                problems.append(Problem(line=line, col=col, message=f"duplicate key {key!r}"))
            pos.key[(*path, key)] = _mark(key_node)
            out[key] = _to_python(value_node, (*path, key), pos, problems, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(child, (*path, i), pos, problems, loader)
            for i, child in enumerate(node.value)
        ]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _check_no_aliases(text: str) -> list[Problem]:
    problems = []
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            problems.append(
                Problem(line=line, col=col, message="YAML anchors and aliases are not allowed")
            )
            break
    return problems


def _yaml_problem(exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    what = getattr(exc, "problem", None) or str(exc)
    return Problem(line=line, col=col, message=f"YAML syntax error: {what}")


def _loc_str(loc: Path) -> str:
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")


def _pydantic_problems(exc: ValidationError, pos: _Positions) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc: Path = tuple(p for p in err["loc"] if isinstance(p, (str, int)))
        kind = err["type"]
        if kind == "extra_forbidden":
            line, col = pos.find(loc, key=True)
            msg = f"unknown key {loc[-1]!r}"
            if len(loc) > 1:
                msg += f" in {_loc_str(loc[:-1])}"
        elif kind == "missing":
            line, col = pos.find(loc[:-1])
            msg = f"missing field {_loc_str(loc)}"
        else:
            line, col = pos.find(loc)
            text = err["msg"].removeprefix("Value error, ")
            msg = f"{_loc_str(loc)}: {text}"
        out.append(Problem(line=line, col=col, message=msg))
    return out


def _iter_dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, dict):
                yield i, v


def _semantic_problems(data: dict[str, Any], pos: _Positions) -> list[Problem]:
    """Checks across fields, done on the raw data so they report even when others fail."""
    problems: list[Problem] = []

    def add(loc: Path, message: str) -> None:
        line, col = pos.find(loc)
        problems.append(Problem(line=line, col=col, message=message))

    conf = data.get("conference")
    languages: list[str] = []
    if isinstance(conf, dict) and isinstance(conf.get("languages"), list):
        languages = [x for x in conf["languages"] if isinstance(x, str)]

    def check_localized(loc: Path, value: Any) -> None:
        if not isinstance(value, dict):
            return
        for lang in languages:
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                add(loc, f"{_loc_str(loc)} has no text in declared language {lang!r}")

    if isinstance(conf, dict):
        check_localized(("conference", "title"), conf.get("title"))

    for section in ("sites", "experts", "translators", "items"):
        seen: dict[str, int] = {}
        for i, entry in _iter_dicts(data.get(section)):
            ident = entry.get("id")
            if isinstance(ident, str):
                if ident in seen:
                    add(
                        (section, i, "id"),
                        f"duplicate {section[:-1]} id {ident!r} (first at {section}[{seen[ident]}])",
                    )
                else:
                    seen[ident] = i
            if section == "sites":
                check_localized((section, i, "name"), entry.get("name"))
            if section == "items":
                check_localized((section, i, "title"), entry.get("title"))

    problems.extend(_interpretation_problems(data, languages, pos))
    site_ids = {e.get("id") for _, e in _iter_dicts(data.get("sites"))}
    for i, item in _iter_dicts(data.get("items")):
        floor = item.get("floor")
        if isinstance(floor, list):
            for j, site in enumerate(floor):
                if isinstance(site, str) and site not in site_ids:
                    add(("items", i, "floor", j), f"items[{i}].floor names unknown site {site!r}")
    return problems


def _interpretation_problems(
    data: dict[str, Any], languages: list[str], pos: _Positions
) -> list[Problem]:
    """An interpreter whose ``into`` is no channel, who listens to a language neither a
    channel nor the conference's, or whose id is taken: each on its own line."""
    section = data.get("interpretation")
    if not isinstance(section, dict):
        return []
    raw_channels = section.get("channels")
    channels = (
        [c for c in raw_channels if isinstance(c, str)] if isinstance(raw_channels, list) else []
    )
    problems: list[Problem] = []

    def add(loc: Path, message: str) -> None:
        line, col = pos.find(loc)
        problems.append(Problem(line=line, col=col, message=message))

    seen: dict[str, int] = {}
    base: Path = ("interpretation", "interpreters")
    for i, entry in _iter_dicts(section.get("interpreters")):
        ident = entry.get("id")
        if isinstance(ident, str):
            if ident in seen:
                add(
                    (*base, i, "id"),
                    f"duplicate interpreter id {ident!r} (first at interpreters[{seen[ident]}])",
                )
            else:
                seen[ident] = i
        into = entry.get("into")
        if isinstance(into, str) and into not in channels:
            add(
                (*base, i, "into"),
                f"interpreter {ident!r} speaks into {into!r}, which is not a channel "
                f"(channels: {', '.join(channels) or 'none'})",
            )
        sources = entry.get("from")
        if isinstance(sources, list):
            for j, lang in enumerate(sources):
                if not isinstance(lang, str):
                    continue
                if lang == into:
                    add(
                        (*base, i, "from", j),
                        f"interpreter {ident!r} cannot interpret from {lang!r} into itself",
                    )
                elif lang not in channels and lang not in languages:
                    add(
                        (*base, i, "from", j),
                        f"interpreter {ident!r} interprets from unknown language {lang!r} "
                        "(neither a channel nor a conference language)",
                    )
    return problems


def parse_agenda(raw: bytes | str) -> Agenda:
    """Parse and validate agenda text; raise ``AgendaError`` listing every problem.

    Not for reading files: pass the bytes; ``confsvc.cli`` reads them.
    """
    if len(raw) > MAX_AGENDA_BYTES:
        raise AgendaError(
            [Problem(line=1, col=1, message=f"file is larger than {MAX_AGENDA_BYTES} bytes")]
        )
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start]
            line = before.count(b"\n") + 1
            col = exc.start - (before.rfind(b"\n") + 1) + 1
            raise AgendaError(
                [Problem(line=line, col=col, message="file is not UTF-8 text")]
            ) from None
    else:
        text = raw
    text = text.removeprefix("\ufeff")
    try:
        problems = _check_no_aliases(text)
        if problems:
            raise AgendaError(problems)
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            pos = _Positions()
            problems = []
            data = _to_python(root, (), pos, problems, loader) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise AgendaError([_yaml_problem(exc)]) from None
    if not isinstance(data, dict):
        line, col = pos.find(()) if root is not None else (1, 1)
        raise AgendaError(
            [
                Problem(
                    line=line,
                    col=col,
                    message="the agenda must be a mapping with conference, sites and items",
                )
            ]
        )
    problems.extend(_semantic_problems(data, pos))
    agenda: Agenda | None = None
    try:
        agenda = Agenda.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, pos))
    unique: dict[tuple[int, int, str], Problem] = {}
    for p in problems:
        unique.setdefault((p.line, p.col, p.message), p)
    if unique or agenda is None:
        raise AgendaError(sorted(unique.values(), key=lambda p: (p.line, p.col)))
    return agenda


def agenda_from_data(data: dict[str, Any]) -> Agenda:
    """Rebuild an agenda stored in an event (already validated when it was loaded)."""
    return Agenda.model_validate(data)
