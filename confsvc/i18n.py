"""Languages, for every adapter: the Babel catalogs (web/locale/<lang>/LC_MESSAGES/
<feature>.po, merged per language), choosing a language, and one Jinja2 environment per
language (autoescape) for the templates of pages, mail and reports.

Catalogs are compiled in memory at start, so there is no build step. The language of a
request comes from ``?lang=``, then ``Accept-Language``, then English
(``pick_language``; ``I18n.language_of`` reads them from anything with ``query`` and
``headers``). Not for answering HTTP: ``confsvc.http.i18n.render`` turns a page into an
aiohttp response. Translations are not a web concern, so mail and the report import
this module, not ``confsvc.http``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import jinja2
from babel import Locale
from babel.dates import format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from babel.units import format_unit

from confsvc.core.error_codes import TEMPLATES, describe
from confsvc.core.errors import DomainError
from confsvc.resources import web_dir

LOCALE_DIR = web_dir() / "locale"
TEMPLATE_DIR = web_dir() / "templates"
LANGUAGES = ("en", "pl", "zh")
LANGUAGE_NAMES = {"en": "English", "pl": "Polski", "zh": "中文"}


# A state an error's params may name ("… when the conference is running"): its msgid.
STATE_WORDS = {
    **{w: w for w in ("planned", "running", "paused", "ended", "pending", "approved")},
    **{w: w for w in ("answered", "deferred", "rejected", "merged", "open", "assigned")},
    **{w: w for w in ("sent", "reviewed", "published")},
    "on_air": "on air",
}


def load_translations(lang: str) -> NullTranslations:
    """All ``*.po`` files of a language, merged: each feature keeps its own file."""
    merged: NullTranslations | None = None
    for po in sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        translations = Translations(buf)
        if merged is None:
            merged = translations
        else:
            merged.merge(translations)  # type: ignore[attr-defined]
    return merged if merged is not None else NullTranslations()


def pick_language(query: str | None, accept: str | None) -> str:
    if query and query in LANGUAGES:
        return query
    if accept:
        weighted = []
        for part in accept.split(","):
            bits = part.strip().split(";")
            tag = bits[0].strip().lower()
            q = 1.0
            for b in bits[1:]:
                if b.strip().startswith("q="):
                    try:
                        q = float(b.strip()[2:])
                    except ValueError:
                        q = 0.0
            weighted.append((q, tag))
        for _q, tag in sorted(weighted, key=lambda x: -x[0]):
            base = tag.split("-")[0]
            if base in LANGUAGES:
                return base
    return "en"


class Asking(Protocol):
    """What ``language_of`` reads: an aiohttp request has both."""

    @property
    def query(self) -> Mapping[str, str]: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class I18n:
    def __init__(self, template_dirs: list[Path] | None = None, *, base: str = "") -> None:
        """``base``: the public URL's path ("" or "/confsvc"); templates build every URL
        from it (``{{ base }}/static/…``) and base.html hands it to the scripts."""
        self.translations = {lang: load_translations(lang) for lang in LANGUAGES}
        loader = jinja2.FileSystemLoader([str(d) for d in (template_dirs or [TEMPLATE_DIR])])
        self.envs: dict[str, jinja2.Environment] = {}
        for lang in LANGUAGES:
            env = jinja2.Environment(
                loader=loader,
                autoescape=jinja2.select_autoescape(["html", "xml", "svg"], default=True),
                extensions=["jinja2.ext.i18n"],
                undefined=jinja2.StrictUndefined,
            )
            env.install_gettext_translations(self.translations[lang], newstyle=True)  # type: ignore[attr-defined]
            env.globals["lang"] = lang
            env.globals["base"] = base
            env.globals["languages"] = LANGUAGE_NAMES
            env.globals["error_catalog"] = None if lang == "en" else self.error_catalog(lang)
            env.filters["when"] = _when_filter(lang)
            env.filters["clock"] = _clock_filter(lang)
            env.filters["minutes"] = _minutes_filter(lang)
            self.envs[lang] = env

    def gettext(self, lang: str, message: str) -> str:
        return self.translations.get(lang, self.translations["en"]).gettext(message)

    def error_catalog(self, lang: str) -> dict[str, dict[str, str]]:
        """The core's error sentences in ``lang`` by key, and the state words their
        params may hold: what a page needs to translate an error (conn.js errorText)."""
        return {
            "keys": {k: self.error_template(lang, k) for k in TEMPLATES},
            "words": {v: self.gettext(lang, m) for v, m in STATE_WORDS.items()},
        }

    def error_template(self, lang: str, key: str) -> str:
        """The template of error ``key`` in ``lang``, found by its key (the msgctxt of
        errors.po, ``tools/po.py``); the English template when ``lang`` has none."""
        english = TEMPLATES[key]
        found = str(self.translations[lang].pgettext(key, english))
        return found if found != english else re.sub(r"\{(\w+)![rs]\}", r"{\1}", english)

    def error_text(self, lang: str, error: DomainError) -> str:
        """An error's sentence in ``lang``: its key's translation with its params filled
        in, or the English message when the core's templates do not know it."""
        described = (error.key, error.params) if error.key else describe(error.message)
        if described is None or lang == "en" or described[0] not in TEMPLATES:
            return error.message
        key, params = described
        words = {v: self.gettext(lang, m) for v, m in STATE_WORDS.items()}
        return re.sub(
            r"\{(\w+)\}",
            lambda m: words.get(params.get(m[1], m[0]), params.get(m[1], m[0])),
            self.error_template(lang, key),
        )

    def render(self, lang: str, template: str, **context: Any) -> str:
        return self.envs[lang].get_template(template).render(**context)

    def language_of(self, request: Asking) -> str:
        return pick_language(request.query.get("lang"), request.headers.get("Accept-Language"))


def _locale(lang: str) -> Locale:
    return Locale.parse({"zh": "zh_Hans_CN", "pl": "pl_PL", "en": "en_GB"}.get(lang, "en_GB"))


def _when_filter(lang: str) -> Any:
    loc = _locale(lang)

    def when(ts: float | None, tz: str = "UTC") -> str:
        if ts is None:
            return "—"
        moment = dt.datetime.fromtimestamp(ts, dt.UTC)
        return format_datetime(moment, "medium", tzinfo=_zone(tz), locale=loc)

    return when


def _clock_filter(lang: str) -> Any:
    loc = _locale(lang)

    def clock(ts: float | None, tz: str = "UTC") -> str:
        if ts is None:
            return "—"
        moment = dt.datetime.fromtimestamp(ts, dt.UTC)
        return format_time(moment, "short", tzinfo=_zone(tz), locale=loc)

    return clock


def _minutes_filter(lang: str) -> Any:
    """A number of minutes in the page's language (CLDR units: "5 min", "5分钟")."""
    loc = _locale(lang)

    def minutes(value: float) -> str:
        return str(format_unit(round(value, 1), "duration-minute", length="short", locale=loc))

    return minutes


def _zone(tz: str) -> Any:
    import zoneinfo

    return zoneinfo.ZoneInfo(tz)
