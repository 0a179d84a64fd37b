"""The OpenAPI 3.1 description of every HTTP route (``GET /api/v1/openapi.json``).

Each route is one entry of ``OPERATIONS``; the JSON bodies are described by the pydantic
models below (their JSON Schemas become ``components.schemas``) and the report by its
published JSON Schema (``confsvc/report/report.schema.json``, copied to
``docs/report.schema.json``). ``tests/integration/test_openapi.py`` fails when a route of
the running app is missing here, and runs schemathesis against a live server. Prose
about the same routes: ``docs/http.md``. The WebSocket's messages are in
``docs/protocol.md``, not here (OpenAPI does not describe them).
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

from pydantic import BaseModel, Field

from confsvc import __version__


class ErrorBody(BaseModel):
    """A refused request: ``code`` is stable (``bad_request``, ``not_found``,
    ``forbidden``, …), ``message`` names the problem, ``field`` the input it is about."""

    code: str
    message: str
    field: str | None = None
    key: str | None = Field(
        None, description="the sentence's stable key, for a page to translate (error_codes.py)"
    )
    params: dict[str, str] | None = Field(None, description="the parts of the sentence that vary")


class ImportProblems(ErrorBody):
    """A CSV import refused as a whole: one ``problems`` entry a bad row (``line N: …``)."""

    problems: list[str]


class Health(BaseModel):
    ok: bool


class Ready(BaseModel):
    ready: bool
    down: dict[str, str] = Field(default_factory=dict, description="part -> why it is down")


class ConferenceState(BaseModel):
    conference: str
    seq: int = Field(ge=0)
    views: dict[str, Any] = Field(description="each part's public view (docs/protocol.md)")


class Imported(BaseModel):
    imported: int = Field(ge=0)
    ids: list[str]


class PostCreated(BaseModel):
    id: str


MODELS: tuple[type[BaseModel], ...] = (
    ErrorBody, ImportProblems, Health, Ready, ConferenceState, Imported, PostCreated,
)  # fmt: skip


def report_schema() -> dict[str, Any]:
    """The report JSON's schema (draft 2020-12), as shipped in the package."""
    text = resources.files("confsvc.report").joinpath("report.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    report = report_schema()
    defs = report.pop("$defs", {})
    for name, sub in defs.items():
        schemas[f"Report{name}"] = sub
    text = json.dumps(report).replace('"#/$defs/', '"#/components/schemas/Report')
    schemas["Report"] = json.loads(text)
    for name in defs:
        schemas[f"Report{name}"] = json.loads(
            json.dumps(schemas[f"Report{name}"]).replace(
                '"#/$defs/', '"#/components/schemas/Report'
            )
        )
    for key in ("$schema", "$id"):
        schemas["Report"].pop(key, None)
    return {"schemas": schemas}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _body(description: str, *types: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {t: {"schema": {"type": "string"}} for t in types},
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


CONFERENCE = _path("conference", "the conference id (the agenda's `conference.id`)")
TOKEN = _path("token", "an invite token (the part after `/j/` of an invite link)")
LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "description": "the page's language (`zh`, `pl`, `en`); default from Accept-Language",
    "schema": {"type": "string"},
}
TOKEN_QUERY = {
    "name": "token",
    "in": "query",
    "required": False,
    "description": "the invite token, if not sent as `Authorization: Bearer <token>`",
    "schema": {"type": "string"},
}
BEARER: list[dict[str, list[str]]] = [{"invite": []}, {}]
NOT_FOUND_JSON = _json("ErrorBody", "no such conference (or an id no agenda can hold)")
REFUSED_JSON = _json("ErrorBody", "refused: bad request, bad token, role not allowed")
HTML_ERROR = _body("an error page naming the problem", "text/html")
# Whatever else the server says (limits, timeouts, a restart): always one of these.
DEFAULT = _body(
    "another refusal (size or rate limit, shutting down): a short text or JSON error",
    "text/plain",
    "application/json",
    "text/html",
)


def _page(summary: str, params: list[dict[str, Any]], *, errors: str = "404") -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": [*params, LANG],
            "responses": {
                "200": _body("the page", "text/html"),
                errors: HTML_ERROR,
                "default": DEFAULT,
            },
        }
    }


REPORT_FORMAT = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["html", "json", "csv", "md"], "default": "html"},
}


def _report(summary: str, param: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": [param, REPORT_FORMAT, LANG],
            "responses": {
                "200": {
                    "description": "the report in the format asked for",
                    "content": {
                        "text/html": {"schema": {"type": "string"}},
                        "application/json": {"schema": _ref("Report")},
                        "text/csv": {"schema": {"type": "string"}},
                        "text/markdown": {"schema": {"type": "string"}},
                    },
                },
                "400": _body("unknown format", "text/plain"),
                "403": HTML_ERROR,
                "404": HTML_ERROR,
                "default": DEFAULT,
            },
        }
    }


def _schedule(suffix: str, content_type: str, what: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if suffix == "json":
        schema = {"type": "object", "required": ["schedule"]}
    return {
        "get": {
            "summary": f"The schedule as {what} (pretalx's path; docs/agenda.md)",
            "parameters": [
                CONFERENCE,
                {**LANG, "description": "the titles' language (default: the agenda's first)"},
            ],
            "responses": {
                "200": {"description": what, "content": {content_type: {"schema": schema}}},
                "400": _json("ErrorBody", "a language the conference does not have"),
                "404": NOT_FOUND_JSON,
                "default": DEFAULT,
            },
        }
    }


MULTIPART_IMPORT = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "token": {
                        "type": "string",
                        "description": "a host's or moderator's invite token "
                        "(or `Authorization: Bearer`)",
                    },
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "the CSV (docs/http.md: header row, columns)",
                    },
                },
            }
        }
    },
}
MULTIPART_POST = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "token": {"type": "string"},
                    "text": {"type": "string", "maxLength": 1000},
                    "photo": {"type": "string", "format": "binary"},
                },
            }
        }
    },
}

OPERATIONS: dict[str, dict[str, Any]] = {
    "/": _page("The index: this server's conferences", [], errors="500"),
    "/j/{token}": _page("An invite link: its role's page", [TOKEN], errors="403"),
    "/c/{conference}/live": _page("The public live page", [CONFERENCE]),
    "/c/{conference}/written": _page(
        "The written-answers dashboard (host, moderator)",
        [CONFERENCE, {**TOKEN_QUERY, "name": "t", "description": "the invite token"}],
        errors="403",
    ),
    "/c/{conference}/written/mail": {
        "get": {
            "summary": "This node's mail connections, for the dashboard's banner (host, moderator)",
            "parameters": [
                CONFERENCE,
                {**TOKEN_QUERY, "name": "t", "description": "the invite token"},
            ],
            "responses": {
                "200": {
                    "description": "each mail part this node runs: smtp (state ok, held or "
                    "idle; error, since, retry_at, last_sent_at) and imap (state starting, ok "
                    "or down; error, since, failures, last_poll_at, idle)",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "smtp": {"type": "object", "required": ["state"]},
                                    "imap": {"type": "object", "required": ["state"]},
                                },
                            }
                        }
                    },
                },
                "403": REFUSED_JSON,
                "404": NOT_FOUND_JSON,
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/ws": {
        "get": {
            "summary": "The conference WebSocket (docs/protocol.md); first message `hello`",
            "parameters": [CONFERENCE],
            "responses": {
                "101": {"description": "switching to the WebSocket protocol"},
                "400": _body("not a WebSocket handshake", "text/plain"),
                "403": _body("Origin not allowed", "text/plain"),
                "404": _body("no such conference", "text/plain"),
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/live/events": {
        "get": {
            "summary": "Server-Sent Events: the public view, then every public message",
            "parameters": [CONFERENCE],
            "responses": {
                "200": _body("an endless event stream", "text/event-stream"),
                "404": NOT_FOUND_JSON,
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/live/photos/{post}": {
        "get": {
            "summary": "A live post's photo",
            "parameters": [CONFERENCE, _path("post", "the post's id")],
            "responses": {
                "200": _body("the photo", "image/jpeg", "image/png", "image/webp", "image/gif"),
                "404": _json("ErrorBody", "no such conference, post or photo"),
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/broadcast/{file}": {
        "get": {
            "summary": "The HLS broadcast (docs/media.md): index.m3u8 (no-cache, max-age=1) "
            "or a segment seg-RUN-N.ts (immutable); public, CORS open",
            "parameters": [CONFERENCE, _path("file", "index.m3u8 or seg-RUN-N.ts")],
            "responses": {
                "200": _body(
                    "the playlist or a segment", "application/vnd.apple.mpegurl", "video/mp2t"
                ),
                "404": _json("ErrorBody", "not started, gone from the playlist, or not its file"),
                "default": DEFAULT,
            },
        }
    },
    "/j/{token}/recordings": _page(
        "The host's recordings page (docs/recording.md): takes, files, signed download links",
        [TOKEN],
        errors="403",
    ),
    "/j/{token}/recordings/presskit.zip": {
        "get": {
            "summary": "The press kit (host): public report, each take's program and chapters, "
            "live-page photos, as one zip",
            "parameters": [TOKEN],
            "responses": {
                "200": _body("the zip", "application/zip"),
                "403": HTML_ERROR,
                "404": HTML_ERROR,
                "default": DEFAULT,
            },
        }
    },
    "/j/{token}/recordings/program/{take}": {
        "get": {
            "summary": "A moment of a take's program (the report's links): a redirect to the "
            "signed program file at #t=<seconds>",
            "parameters": [TOKEN, _path("take", "the take's number")],
            "responses": {
                "302": _body("a redirect to the program file, at the moment", "text/plain"),
                "403": HTML_ERROR,
                "404": HTML_ERROR,
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/recordings/{name}": {
        "get": {
            "summary": "A recording file by its signed link (24 h; range requests)",
            "parameters": [
                CONFERENCE,
                _path("name", "the file's name (recording list)"),
                {"name": "exp", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": _body("the file", "video/webm", "text/vtt", "application/json"),
                "206": _body("a range of the file", "video/webm"),
                "403": HTML_ERROR,
                "404": HTML_ERROR,
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/questions/import": {
        "post": {
            "summary": "Import pre-session questions from CSV: all rows or none",
            "parameters": [CONFERENCE],
            "security": BEARER,
            "requestBody": MULTIPART_IMPORT,
            "responses": {
                "200": _json("Imported", "every row imported; their question ids"),
                "400": {
                    "description": "a malformed body, or rows refused (`problems`, one a row)",
                    "content": {
                        "application/json": {
                            "schema": {"anyOf": [_ref("ImportProblems"), _ref("ErrorBody")]}
                        }
                    },
                },
                "403": REFUSED_JSON,
                "404": NOT_FOUND_JSON,
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/questions/export.csv": {
        "get": {
            "summary": "Every question with its history, as CSV (host, moderator)",
            "parameters": [CONFERENCE, TOKEN_QUERY],
            "security": BEARER,
            "responses": {
                "200": _body("the CSV (formula cells neutralised)", "text/csv"),
                "403": REFUSED_JSON,
                "404": NOT_FOUND_JSON,
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/questions/export.json": {
        "get": {
            "summary": "Every question with its history, as JSON (host, moderator)",
            "parameters": [CONFERENCE, TOKEN_QUERY],
            "security": BEARER,
            "responses": {
                "200": {
                    "description": "conference, seq, questions (staff view), posts",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "403": REFUSED_JSON,
                "404": NOT_FOUND_JSON,
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/posts": {
        "post": {
            "summary": "Publish a live post with an optional photo (host, moderator)",
            "parameters": [CONFERENCE],
            "security": BEARER,
            "requestBody": MULTIPART_POST,
            "responses": {
                "200": _json("PostCreated", "the new post's id"),
                "400": REFUSED_JSON,
                "403": REFUSED_JSON,
                "404": NOT_FOUND_JSON,
                "default": DEFAULT,
            },
        }
    },
    "/c/{conference}/report": _report("The public report", CONFERENCE),
    "/j/{token}/report": _report("The organiser's report (host, moderator)", TOKEN),
    "/c/{conference}/schedule.json": _schedule("json", "application/json", "frab/pretalx JSON"),
    "/c/{conference}/schedule.xml": _schedule("xml", "application/xml", "frab XML"),
    "/c/{conference}/schedule.ics": _schedule("ics", "text/calendar", "iCalendar"),
    "/healthz": {
        "get": {
            "summary": "Liveness",
            "responses": {"200": _json("Health", "the process serves requests")},
        }
    },
    "/readyz": {
        "get": {
            "summary": "Readiness: the store answers and the bus is connected",
            "responses": {
                "200": _json("Ready", "ready"),
                "503": _json("Ready", "not ready: `down` names each part and why"),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics (only on --metrics-port when that is set)",
            "responses": {
                "200": _body("the Prometheus text format", "text/plain"),
                "404": _body("served on the metrics port instead", "text/plain"),
                "default": DEFAULT,
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This description",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/api/v1/conferences/{conference}/state": {
        "get": {
            "summary": "The public view of a conference",
            "parameters": [CONFERENCE],
            "responses": {
                "200": _json("ConferenceState", "the public views"),
                "404": NOT_FOUND_JSON,
                "default": DEFAULT,
            },
        }
    },
    "/static/{path}": {
        "get": {
            "summary": "The pages' scripts, styles and images",
            "parameters": [_path("path", "a file under web/static/")],
            "responses": {
                "200": {"description": "the file"},
                "403": {"description": "outside web/static/"},
                "404": {"description": "no such file"},
                "default": DEFAULT,
            },
        }
    },
    "/favicon.ico": {
        "get": {
            "summary": "The site's icon (pages link /static/favicon.svg)",
            "responses": {"200": {"description": "an ICO file"}, "default": DEFAULT},
        }
    },
}


@functools.cache
def _spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "confsvc",
            "version": __version__,
            "description": "Every HTTP route of confsvc; prose in docs/http.md, the "
            "WebSocket protocol in docs/protocol.md.",
        },
        "paths": OPERATIONS,
        "components": {
            **_components(),
            "securitySchemes": {
                "invite": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an invite token (also as form field or query `token`)",
                }
            },
        },
    }


def spec() -> dict[str, Any]:
    """The description (a fresh copy: callers may change it)."""
    return copy.deepcopy(_spec())
