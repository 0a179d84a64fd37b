"""Composing mail: from written-answer events to outbox rows (rendered messages).

``Composer.outbox_hook`` is registered in ``Hubs.outbox_hooks``: it sees the state
*before* the new events are folded and the events themselves, and returns the mail they
need (assignment, reminder, the published answer for the asker, the organiser's digest),
fully rendered, so that the outbox row is written in the same transaction as the event
and the sender needs nothing but the row. Headers are built only with ``EmailMessage``
(``policy.SMTP``) and ``headerregistry.Address``; a value with a line break never reaches
a header: the row then carries the error and the sender records it as a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from confsvc.core import written as W
from confsvc.core.conference import ConferenceState
from confsvc.core.events import NewEvent, WrittenAssigned, WrittenReviewed
from confsvc.core.roles import Role, issue_invite
from confsvc.core.translation import current
from confsvc.i18n import LANGUAGES, I18n
from confsvc.mail.addresses import HeaderInjection, message_id, reply_address, safe_header
from confsvc.store import OutboxRow

EXPERT_LINK_TTL_S = 60 * 24 * 3600
STATUS_LABELS = {
    "open": "open",
    "assigned": "assigned",
    "sent": "sent",
    "answered": "answered",
    "reviewed": "reviewed",
    "published": "published",
    "overdue": "overdue",
    "bounced": "bounced",
    "quarantine": "quarantine",
    "total": "total",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MailSettings:
    secret: bytes
    domain: str
    base_url: str
    mail_from: str
    organiser: str | None = None


def mail_language(languages: Sequence[str], fallback: str = "en") -> str:
    for lang in languages:
        if lang in LANGUAGES:
            return lang
    return fallback if fallback in LANGUAGES else "en"


def _address(name: str | None, addr: str, what: str) -> Address:
    safe_header(addr, what)
    if name is not None:
        safe_header(name, f"{what} name")
    local, _, domain = addr.rpartition("@")
    if not local or not domain:
        raise HeaderInjection(f"{what}: {addr!r} is not an e-mail address")
    return Address(display_name=name or "", username=local, domain=domain)


class Composer:
    def __init__(self, settings: MailSettings, i18n: I18n) -> None:
        self.s = settings
        self.i18n = i18n

    # -- the hook --------------------------------------------------------------

    def outbox_hook(
        self, state: ConferenceState, new: Sequence[NewEvent], now: float
    ) -> list[OutboxRow]:
        rows: list[OutboxRow] = []
        reviewed: dict[str, str] = {}
        for i, event in enumerate(new):
            seq = state.seq + i + 1
            d = event.data
            if event.type == WrittenReviewed.TYPE:
                review = WrittenReviewed.parse(d)
                reviewed[review.question] = review.text
            kind: str | None = None
            if event.type == "q.translated":
                d = self._released(state, d)  # the desk's translation an assignment waited for
                kind = "assignment" if d else None
            elif event.type == WrittenAssigned.TYPE and WrittenAssigned.parse(d).waits_for:
                kind = None  # it goes once the desk has translated the question
            elif event.type == "written.assigned":
                kind = "assignment"
            elif event.type == "written.reminded":
                kind = "reminder"
            elif event.type == "written.published":
                kind = "answer"
            elif event.type == "written.digest_sent":
                kind = "digest"
            if kind is None:
                continue
            qid = str(d.get("question") or d.get("id") or "")
            key = f"{state.id}:{seq}:{kind}:{qid}"
            try:
                built = self.build(state, kind, d, seq, now, reviewed)
            except HeaderInjection as exc:
                rows.append(
                    OutboxRow(
                        key=key,
                        payload={
                            "conference": state.id,
                            "question": qid,
                            "kind": kind,
                            "error": str(exc),
                        },
                    )
                )
                continue
            if built is None:
                continue
            msg, envelope_from, to = built
            rows.append(
                OutboxRow(
                    key=key,
                    payload={
                        "conference": state.id,
                        "question": qid,
                        "kind": kind,
                        "from": envelope_from,
                        "to": to,
                        "message_id": str(msg["Message-ID"]),
                        "message": msg.as_string(),
                    },
                )
            )
        return rows

    @staticmethod
    def _released(state: ConferenceState, translated: dict[str, Any]) -> dict[str, Any]:
        """The assignment a ``q.translated`` event lets go (its data, with the
        translation), or ``{}``: only an assignment waiting for that very language."""
        q = W.entry(state, str(translated.get("id")))
        if q is None or not q.waiting or q.waits_for != translated.get("language"):
            return {}
        return {
            "question": q.id,
            "expert": q.expert,
            "due": q.due,
            "translation": translated.get("text"),
        }

    # -- building one mail -------------------------------------------------------

    def build(
        self,
        state: ConferenceState,
        kind: str,
        data: dict[str, Any],
        seq: int,
        now: float,
        reviewed: dict[str, str],
    ) -> tuple[EmailMessage, str, list[str]] | None:
        agenda = state.require_agenda()
        experts = W.experts(state)
        if kind == "digest":
            if not self.s.organiser:
                return None
            lang = agenda.default_language if agenda.default_language in LANGUAGES else "en"
            ctx = self._digest_context(state, data, now, lang)
            to = _address(None, self.s.organiser, "organiser")
            subject = self._t(lang, "Written answers: what is open")
            return self._message(kind, lang, ctx, subject, to, None, state.id, "digest", seq)
        qid = str(data["question"])
        q = W.entry(state, qid)
        if q is None:
            return None
        if kind in ("assignment", "reminder"):
            eid = str(data.get("expert") or q.expert or "")
            expert = experts.get(eid)
            if expert is None:
                return None
            lang = mail_language(expert.languages, agenda.default_language)
            ctx = self._question_context(state, q, lang, data.get("due", q.due))
            # The question in the expert's language first (the desk's), the original below.
            if q.language != lang:
                ctx["translated"] = data.get("translation") or q.translations.get(lang)
            _, token = issue_invite(
                self.s.secret,
                conference=state.id,
                role=Role.EXPERT,
                expert=expert.id,
                name=expert.name,
                now=now,
                ttl_s=EXPERT_LINK_TTL_S,
            )
            ctx.update(
                expert=expert,
                link=f"{self.s.base_url}/j/{token}?lang={lang}",
                kind=data.get("kind"),
            )
            to = _address(expert.name, expert.email, "expert")
            reply_to = reply_address(self.s.secret, state.id, q.id, self.s.domain)
            label = "Question for a written answer" if kind == "assignment" else "Reminder"
            subject = f"{self._t(lang, label)} [{q.id}] — {ctx['session']}"
            return self._message(kind, lang, ctx, subject, to, reply_to, state.id, q.id, seq)
        # kind == "answer": the asker gets the published answer, if they left an address
        if not q.email:
            return None
        lang = q.language if q.language in LANGUAGES else agenda.default_language
        lang = lang if lang in LANGUAGES else "en"
        answer = reviewed.get(q.id, q.answer or "")
        # The answer in the asker's language (the desk's), the original one below.
        translated = current(q.answer_translations, answer).get(lang)
        ctx = self._question_context(state, q, lang, None)
        ctx.update(
            q={
                "id": q.id,
                "name": q.name,
                "text": q.text,
                "answer": translated or answer,
                "original_answer": answer if translated else None,
            },
            expert=experts.get(q.expert or ""),
            link=f"{self.s.base_url}/c/{state.id}/live?lang={lang}",
        )
        to = _address(q.name, q.email, "asker")
        subject = f"{self._t(lang, 'Your question has been answered')} — {ctx['session']}"
        return self._message(kind, lang, ctx, subject, to, None, state.id, q.id, seq)

    def _t(self, lang: str, text: str) -> str:
        return self.i18n.gettext(lang, text)

    def _question_context(
        self, state: ConferenceState, q: W.WrittenQuestion, lang: str, due: float | None
    ) -> dict[str, Any]:
        agenda = state.require_agenda()
        site = agenda.site(q.site) if q.site else None
        tz = site.timezone if site is not None else "UTC"
        when = self.i18n.envs[lang].filters["when"]
        return {
            "q": q,
            "site": agenda.text(site.name, lang) if site is not None else None,
            "session": agenda.text(agenda.conference.title, lang),
            "due": when(due, tz) if due else None,
            "translated": None,  # the question in the mail's language, when it is not in it
        }

    def _digest_context(
        self, state: ConferenceState, data: dict[str, Any], now: float, lang: str
    ) -> dict[str, Any]:
        agenda = state.require_agenda()
        _, token = issue_invite(
            self.s.secret, conference=state.id, role=Role.MODERATOR, now=now, ttl_s=3 * 24 * 3600
        )
        labels = {k: self._t(lang, v) for k, v in STATUS_LABELS.items()}
        return {
            "session": agenda.text(agenda.conference.title, lang),
            "counts": data.get("counts") or W.view_counts(state, now),
            "labels": labels,
            "open": [
                {
                    "id": q.id,
                    "status": q.status,
                    "expert": q.expert,
                    "overdue": q.overdue(now),
                    "bounced": q.bounced,
                    "text": q.text,
                }
                for q in W.written(state)
                if q.status != W.PUBLISHED
            ],
            "link": f"{self.s.base_url}/c/{state.id}/written?t={token}&lang={lang}",
        }

    def _message(
        self,
        kind: str,
        lang: str,
        ctx: dict[str, Any],
        subject: str,
        to: Address,
        reply_to: str | None,
        conference: str,
        qid: str,
        seq: int,
    ) -> tuple[EmailMessage, str, list[str]]:
        msg = EmailMessage(policy=policy.SMTP)
        sender = _address(None, self.s.mail_from, "mail_from")
        msg["From"] = Address(
            display_name=ctx["session"][:78] if "\n" not in ctx["session"] else "",
            username=sender.username,
            domain=sender.domain,
        )
        msg["To"] = to
        if reply_to is not None:
            msg["Reply-To"] = reply_to
        msg["Subject"] = safe_header(" ".join(subject.split()), "subject")
        msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        mid = message_id(self.s.secret, conference, qid, f"{seq}-{kind}", self.s.domain)
        msg["Message-ID"] = mid
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        text = self.i18n.render(lang, f"mail/{kind}.txt", **ctx)
        html = self.i18n.render(lang, f"mail/{kind}.html", **ctx)
        msg.set_content(text, subtype="plain", charset="utf-8")
        msg.add_alternative(html, subtype="html", charset="utf-8")
        msg["Content-Language"] = lang  # after set_content, which drops Content-* headers
        # Bounces come back to the question's signed address, so they flag the question.
        envelope_from = reply_to or self.s.mail_from
        return msg, envelope_from, [to.addr_spec]
