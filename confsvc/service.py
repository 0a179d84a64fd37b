"""Conference hubs: the adapter that runs commands against the core and the store.

A ``Hub`` holds one conference's state on this node. ``execute`` decides with the core,
appends with optimistic concurrency, folds, then tells its listeners (WebSocket and SSE
connections, the media relay) and the bus (other nodes). When another writer got there
first it catches up from the store and decides again, so two moderators never both win
and the loser gets the core's reason. It holds no rules of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from confsvc.backlog import DEFAULT_SIZE, Backlog, Behind, coalesced, for_principal
from confsvc.bus import Bus, LocalBus, Tidings
from confsvc.core.agenda import Agenda, id_problem
from confsvc.core.conference import (
    ConferenceState,
    Message,
    Rules,
    agenda_loaded_event,
    created_event,
)
from confsvc.core.errors import DomainError, NotFound, Unavailable
from confsvc.core.events import SYSTEM, Command, Event, NewEvent, Principal
from confsvc.core.idempotency import outcome, tag
from confsvc.core.invites import InviteRequest, check_issue, record_args
from confsvc.core.privacy import ERASED_EVENT
from confsvc.core.registry import RULES
from confsvc.core.roles import Invite, issue_invite
from confsvc.core.runofshow import PLANNED, ros
from confsvc.store import ConcurrencyError, EventStore, NewRecord, OutboxRow
from confsvc.store.guarded import StoreUnavailable

log = logging.getLogger(__name__)

Clock = Callable[[], float]
OutboxHook = Callable[[ConferenceState, Sequence[NewEvent], float], list[OutboxRow]]
EventHook = Callable[["Hub", list[Event]], Awaitable[None] | None]
# Turns a command's arguments into the ones decided on (e.g. a photo re-encoded), or
# raises a DomainError; run once per command, before the hub's lock is taken.
CommandFilter = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
# What to append, decided on the state as folded now (``Hub.append``); called again after
# another writer's events are folded.
Decide = Callable[[ConferenceState, float], list[NewEvent]]
# Losing the append race to another node is expected when many ask at once (one seq per
# conference): the loser waits a random while, growing with each loss (so the nodes that
# lost together do not try together again), catches up and decides again. Past the time
# budget the store is saturated: ``unavailable`` with retry_after, and the client re-sends
# with its key; a command is never refused for losing races (docs/protocol.md).
# A node that won lately while others lose (contended) lets them in: before its next
# command it waits a random part of its last append, or it would win every race (its state
# is current, theirs needs a catch-up first) and starve them.
RETRY_FIRST_S = 0.001
RETRY_MAX_S = 0.02
RETRY_BUDGET_S = 5.0
CONTENDED_S = 1.0


class HubObserver(Protocol):
    """Told of every command's result and every append's duration (``confsvc.metrics``)."""

    def command(self, name: str, result: str) -> None: ...

    def appended(self, seconds: float) -> None: ...


class Listener(Protocol):
    """A live connection: it has a principal and takes serialized messages without blocking."""

    principal: Principal

    def deliver(self, text: str) -> None: ...


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class Hub:
    def __init__(
        self,
        *,
        conference: str,
        store: EventStore,
        bus: Bus,
        rules: Rules = RULES,
        clock: Clock = time.time,
        outbox_hooks: list[OutboxHook] | None = None,
        event_hooks: list[EventHook] | None = None,
        observers: list[HubObserver] | None = None,
        command_filters: dict[str, CommandFilter] | None = None,
        backlog_events: int = DEFAULT_SIZE,
    ) -> None:
        self.id = conference
        self.store = store
        self.bus = bus
        self.rules = rules
        self.clock = clock
        self.state = rules.new_state(conference)
        self.listeners: set[Listener] = set()
        self.outbox_hooks = outbox_hooks if outbox_hooks is not None else []
        self.event_hooks = event_hooks if event_hooks is not None else []
        self.observers = observers if observers is not None else []
        self.command_filters = command_filters if command_filters is not None else {}
        self._lock = asyncio.Lock()
        # The messages of the last events, for a client resuming from its seq.
        self.backlog = Backlog(backlog_events)
        self._contended_at = -CONTENDED_S  # when another writer last wrote (monotonic)
        self._append_s = 0.0  # how long the last append took
        self.bus_store_reads = 0  # bus messages that needed a store read (``receive``)

    def __repr__(self) -> str:
        return f"Conference({self.id})"

    # -- loading ---------------------------------------------------------------

    async def catch_up(self) -> int:
        """Fold whatever the store has past our seq (another node or process wrote it)."""
        async with self._lock:
            return await self._catch_up_locked()

    async def _catch_up_locked(self) -> int:
        events = await self.store.read(self.id, self.state.seq)
        if any(e.type == ERASED_EVENT for e in events):
            # Personal data was erased: earlier events were rewritten in place, so what we
            # folded is folded again from the rewritten log first (docs/privacy.md).
            state = self.rules.new_state(self.id)
            for e in await self.store.read(self.id):
                if e.seq > self.state.seq:
                    break
                self.rules.fold(state, e)
            self.state = state
        if events:
            self._contended_at = time.monotonic()  # another writer wrote
            await self._apply(events)
        return len(events)

    async def receive(self, seq: int, events: Sequence[Event] | None) -> int:
        """Fold another node's append as the bus carried it (``confsvc.bus``): its events
        without a store read when they follow what is folded here; the store's when the
        bus carried none, when there is a gap (a bus message missed), or for an erasure.
        Each seq is folded once, in order: what is folded already is skipped."""
        async with self._lock:
            if seq <= self.state.seq:
                return 0  # folded already (our own catch-up, or an older message)
            fresh = [e for e in events or () if e.seq > self.state.seq]
            if (
                not fresh
                or fresh[0].seq != self.state.seq + 1
                or any(e.type == ERASED_EVENT for e in fresh)
            ):
                self.bus_store_reads += 1
                return await self._catch_up_locked()
            self._contended_at = time.monotonic()  # another writer wrote
            await self._apply(fresh)
            return len(fresh)

    # -- commands --------------------------------------------------------------

    async def execute(self, who: Principal, command: Command) -> list[Event]:
        """Run one command; raise the core's ``DomainError`` when it is refused."""
        try:
            events = await self._execute(who, command)
        except DomainError as exc:
            for observer in self.observers:
                observer.command(command.name, exc.code)
            raise
        for observer in self.observers:
            observer.command(command.name, "ok")
        return events

    async def _execute(self, who: Principal, command: Command) -> list[Event]:
        command_filter = self.command_filters.get(command.name)
        if command_filter is not None:
            # Authorised before the filter's work (decoding a photo), outside the lock.
            self.rules.check_allowed(self.state, who, command.name)
            command = Command(
                name=command.name, args=await command_filter(command.args), key=command.key
            )
        key = command.key
        if key is None:
            return await self.append(
                who, lambda state, now: self.rules.decide(state, who, command, now)
            )
        replayed: list[Event] = []

        def decide(state: ConferenceState, now: float) -> list[NewEvent]:
            # Asked again on every attempt: another node may have stored this key meanwhile.
            self.rules.check_allowed(state, who, command.name)
            known = outcome(state.outcomes, who.actor, key, command.name)
            if known is not None:
                replayed[:] = known.events
                return []
            return tag(self.rules.decide(state, who, command, now), key, command.name)

        return await self.append(who, decide) or replayed

    async def append_system(self, new: list[NewEvent]) -> list[Event]:
        """Append events decided outside a command (agenda load, mail results), as they
        are, after whatever another writer appended first."""
        return await self.append(SYSTEM, lambda _state, _now: new)

    async def append(self, who: Principal, decide: Decide) -> list[Event]:
        """Decide on the folded state and append the result: the one append-with-retry.

        When another writer (a node, ``confsvc mail send-due``, ``confsvc invite``) was
        first, catch up from the store and decide again on what it wrote, so the loser
        of a race gets the core's reason. Not for commands from a connection: ``execute``
        adds the filters and the observers' counts.
        """
        async with self._lock:
            try:
                return await self._append_attempts(who, decide)
            except StoreUnavailable as exc:
                # Every store call is bounded (confsvc/store/guarded.py): the lock is let go.
                raise Unavailable(
                    f"{exc}; send the command again with the same key", retry_after=exc.retry_after
                ) from None

    async def _append_attempts(self, who: Principal, decide: Decide) -> list[Event]:
        started = time.monotonic()
        if started - self._contended_at < CONTENDED_S:
            await asyncio.sleep(random.uniform(0, self._append_s))  # let the others in
            await self._catch_up_locked()
        losses = 0
        while True:
            now = self.clock()
            try:
                new = decide(self.state, now)
            except DomainError:
                # Refused on what this node folded: when another writer has moved the
                # log on (a stale "not started"), the refusal is decided on that instead.
                try:
                    behind = await self.store.last_seq(self.id) > self.state.seq
                except StoreUnavailable:
                    behind = False  # the refusal stands on what this node knows
                if not behind:
                    raise
                await self._catch_up_locked()
                continue
            try:
                return await self._append_locked(who, new, now)
            except ConcurrencyError:
                self._contended_at = time.monotonic()
                losses += 1
                waited = time.monotonic() - started
                if waited > RETRY_BUDGET_S:
                    log.warning("%r: lost the append race %d times in %.1f s", self, losses, waited)
                    raise Unavailable.keyed("hub.busy", retry_after=1.0) from None
                log.debug("%r: another writer was first (%d); catching up", self, losses)
                cap = min(RETRY_MAX_S, RETRY_FIRST_S * 2**losses)
                await asyncio.sleep(random.uniform(0, cap))
                await self._catch_up_locked()

    async def issue_invite(
        self, who: Principal, secret: bytes, request: InviteRequest
    ) -> tuple[Invite, str]:
        """Sign an invite link, record it in the log (``invite.record``), and only then
        return it with its token: the one path for the host console, ``confsvc invite``
        and the demo's links, so no link exists that the host cannot see and revoke."""
        check_issue(self.state, who, request)  # refused before anything is signed
        invite, token = issue_invite(
            secret,
            conference=self.id,
            role=request.role,
            site=request.site,
            expert=request.expert,
            name=request.name,
            interpreter=request.interpreter,
            languages=request.languages,
            now=self.clock(),
            ttl_s=request.ttl_s,
        )
        await self.execute(who, Command(name="invite.record", args=record_args(invite)))
        return invite, token

    async def _append_locked(self, who: Principal, new: list[NewEvent], now: float) -> list[Event]:
        if not new:
            return []
        records = [NewRecord(type=e.type, at=now, actor=who.actor, data=e.data) for e in new]
        outbox: list[OutboxRow] = []
        for hook in self.outbox_hooks:
            outbox.extend(hook(self.state, new, now))
        started = time.perf_counter()
        events = await self.store.append(self.id, self.state.seq, records, outbox=outbox)
        self._append_s = time.perf_counter() - started
        for observer in self.observers:
            observer.appended(self._append_s)
        await self._apply(events)
        try:
            # Stored already: a bus that is down must not turn the ack into an error (other
            # nodes catch up by polling the store meanwhile).
            await self.bus.publish(self.id, events)
        except Exception as exc:
            log.warning("%r: could not publish seq %d on the bus: %r", self, events[-1].seq, exc)
        return events

    async def _apply(self, events: list[Event]) -> None:
        messages: list[tuple[Message, int]] = []
        for event in events:
            self.rules.fold(self.state, event)
            derived = self.rules.messages(self.state, event)
            if event.type == ERASED_EVENT:
                self.backlog.clear(event.seq - 1)  # what it kept may hold the erased data
            self.backlog.record(event.seq, derived)
            messages.extend((m, event.seq) for m in derived)
        self._broadcast(messages)
        for hook in self.event_hooks:
            try:
                result = hook(self, events)
                if result is not None:
                    await result
            except Exception:
                log.exception("%r: event hook failed", self)

    def _broadcast(self, messages: list[tuple[Message, int]]) -> None:
        # When several events were folded at once (e.g. resume + move), only the newest
        # of each coalescing message (a whole view) per audience is worth sending.
        for m, seq in coalesced(messages):
            text = dumps({**m.payload, "seq": seq})
            for listener in list(self.listeners):
                if m.audience.includes(listener.principal):
                    listener.deliver(text)

    def missed(self, who: Principal, after_seq: int) -> list[str]:
        """The messages for ``who`` of every event after ``after_seq``, serialized as they
        were sent; ``confsvc.backlog.Behind`` (saying why) when the backlog cannot tell.
        Deliver them before anything else and without awaiting in between."""
        kept = coalesced(for_principal(self.backlog.since(after_seq, self.state.seq), who))
        return [dumps({**m.payload, "seq": seq}) for m, seq in kept]

    def opening(self, who: Principal, resume_from: int | None) -> tuple[dict[str, Any], list[str]]:
        """How a (re)connecting client starts, for the WebSocket and SSE alike
        (docs/protocol.md, "Resuming"): the welcome's fields and what follows it. Resumed:
        ``resumed: true`` and ``missed``, then the messages it missed since
        ``resume_from``; else a snapshot (``views``; with ``resumed: false`` and the
        ``reason`` when it asked to resume) and nothing. Deliver both before awaiting."""
        if resume_from is not None:
            try:
                missed = self.missed(who, resume_from)
            except Behind as exc:
                return {"resumed": False, "reason": str(exc), "views": self.snapshot(who)}, []
            return {"resumed": True, "missed": len(missed)}, missed
        return {"views": self.snapshot(who)}, []

    def snapshot(self, who: Principal) -> dict[str, Any]:
        return self.rules.snapshot(self.state, who, self.clock())


class Hubs:
    """Every conference this node serves, loaded from the store on first use."""

    def __init__(
        self,
        store: EventStore,
        bus: Bus | None = None,
        *,
        clock: Clock = time.time,
        rules: Rules = RULES,
        backlog_events: int = DEFAULT_SIZE,
    ) -> None:
        self.store = store
        self.bus = bus or LocalBus()
        self.backlog_events = backlog_events
        self.clock = clock
        self.rules = rules
        self.outbox_hooks: list[OutboxHook] = []
        self.event_hooks: list[EventHook] = []
        self.observers: list[HubObserver] = []
        self.command_filters: dict[str, CommandFilter] = {}
        self._hubs: dict[str, Hub] = {}
        self._loading: dict[str, asyncio.Future[Hub]] = {}
        # Bus messages that needed a store read (a gap, an erasure, or no events carried),
        # over every hub this node has held (``/metrics``: confsvc_bus_store_reads).
        self.bus_store_reads = 0
        self.bus.on_publish(self._on_bus)
        on_reconnect = getattr(self.bus, "on_reconnect", None)
        if on_reconnect is not None:  # Redis: catch up on what came while it was away
            on_reconnect(self.catch_up_all)

    async def _on_bus(self, tidings: Tidings) -> None:
        hub = self._hubs.get(tidings.conference)
        if hub is not None and hub.state.seq < tidings.seq:
            before = hub.bus_store_reads
            try:
                await hub.receive(tidings.seq, tidings.events)
            finally:
                self.bus_store_reads += hub.bus_store_reads - before

    async def get(self, conference: str) -> Hub:
        """The conference's hub; ``NotFound`` if the store has no such conference."""
        hub = self._hubs.get(conference)
        if hub is not None:
            return hub
        problem = id_problem(conference)
        if problem is not None:
            # Refused before any lookup: an id no agenda can hold costs no store read.
            raise NotFound.keyed(
                "hub.no_conference_why", conference=conference[:80], detail=problem
            )
        # One load per id at a time; the entry goes as soon as the load ends, so asking
        # for ids that do not exist leaves nothing behind (issue 11, item 1).
        loading = self._loading.get(conference)
        if loading is None:
            loading = asyncio.ensure_future(self._load(conference))
            self._loading[conference] = loading
            loading.add_done_callback(lambda done: self._loaded(conference, done))
        try:
            return await asyncio.shield(loading)
        except StoreUnavailable as exc:
            raise Unavailable.keyed(
                "command.args", command=exc, detail="try again", retry_after=exc.retry_after
            ) from None

    async def _load(self, conference: str) -> Hub:
        hub = self._new_hub(conference)
        await hub.catch_up()
        if not hub.state.exists:
            raise NotFound.keyed("hub.no_conference", conference=conference)
        self._hubs[conference] = hub
        return hub

    def _loaded(self, conference: str, done: asyncio.Future[Hub]) -> None:
        if self._loading.get(conference) is done:
            del self._loading[conference]
        if not done.cancelled():
            done.exception()  # retrieved here too, for when every waiter went away

    async def poll(self, interval_s: float = 1.0) -> None:
        """Catch up every loaded conference whose log grew elsewhere (runs until cancelled)."""
        while True:
            await asyncio.sleep(interval_s)
            await self.catch_up_all()

    async def catch_up_all(self) -> None:
        """Fold what the store has past each loaded conference's seq (the poll; the bus
        after it reconnects)."""
        for hub in list(self._hubs.values()):
            try:
                if await self.store.last_seq(hub.id) > hub.state.seq:
                    await hub.catch_up()
            except Exception:
                log.exception("%r: catch-up failed", hub)

    def _new_hub(self, conference: str) -> Hub:
        return Hub(
            conference=conference,
            store=self.store,
            bus=self.bus,
            rules=self.rules,
            clock=self.clock,
            outbox_hooks=self.outbox_hooks,
            event_hooks=self.event_hooks,
            observers=self.observers,
            command_filters=self.command_filters,
            backlog_events=self.backlog_events,
        )

    def loaded(self) -> list[Hub]:
        return list(self._hubs.values())

    def tracked_ids(self) -> set[str]:
        """Every conference id this node keeps anything for (loaded or loading)."""
        return set(self._hubs) | set(self._loading)

    async def create_or_resume(self, agenda: Agenda) -> tuple[Hub, str]:
        """Create the agenda's conference, or resume it from the store.

        Returns the hub and what happened: ``created``, ``resumed`` or ``agenda updated``
        (a changed agenda file replaces the stored one only before the conference starts).
        """
        cid = agenda.conference.id
        try:
            hub = await self.get(cid)
        except NotFound:
            hub = self._new_hub(cid)
            await hub.catch_up()
            if not hub.state.exists:
                await hub.append_system([created_event(agenda)])
                self._hubs[cid] = hub
                return hub, "created"
            self._hubs[cid] = hub
        if hub.state.archived_at is not None:
            return hub, "archived: read-only, commands are refused (confsvc admin)"
        if hub.state.agenda == agenda:
            return hub, "resumed"
        if ros(hub.state).status == PLANNED:
            await hub.append_system([agenda_loaded_event(agenda)])
            return hub, "agenda updated"
        log.warning(
            "%r: the agenda file differs from the stored agenda, but the conference has "
            "started; keeping the stored agenda",
            hub,
        )
        return hub, "resumed (agenda file ignored: the conference has started)"
