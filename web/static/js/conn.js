// The conference WebSocket: hello, commands with acks, live messages, reconnection.
// Used by every page; a page subscribes with conn.on(type, fn).

import { forgetPerson, keepPerson, storedPerson, takePersonFromFragment } from "./person.js";

// The public URL's path ("" or "/confsvc"), from <meta name="confsvc-base"> in base.html:
// every URL a script builds goes through url(), so pages work behind a proxy that serves
// confsvc under a path prefix.
export const base = document.querySelector('meta[name="confsvc-base"]')?.content ?? "";

export function url(path) {
  return base + path;
}

// ws:// or wss:// for a path the server gave (boot.ws already carries the base).
export function wsUrl(path) {
  const u = new URL(path, location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

export function bootData() {
  const el = document.getElementById("boot");
  return el ? JSON.parse(el.textContent) : {};
}

export function i18nData() {
  const el = document.getElementById("i18n");
  return el ? JSON.parse(el.textContent) : {};
}

// An error in the page's language: the server sends a stable key and params with its
// English message (confsvc/core/error_codes.py); base.html carries the translated
// templates (#errors-i18n, absent on English pages, where the message is shown as it is).
const errorCatalog = (() => {
  const el = document.getElementById("errors-i18n");
  return el ? JSON.parse(el.textContent) : null;
})();

export function errorText(err) {
  const template = errorCatalog && err && err.key && errorCatalog.keys[err.key];
  if (!template) return err?.message ?? String(err);
  return template.replace(/\{(\w+)\}/g, (whole, name) => {
    const value = err.params?.[name];
    return value == null ? whole : (errorCatalog.words[value] ?? value);
  });
}

// Close codes of a link whose powers ended while the socket was open (docs/protocol.md).
const LINK_ENDED = { 4001: "expired", 4003: "revoked" };

// An idempotency key (docs/protocol.md, "Idempotency keys"): a command re-sent with it
// after a reconnect or an "unavailable" answer is stored once. getRandomValues works on
// plain http too (randomUUID needs a secure context).
function newKey() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Conn {
  constructor(boot) {
    this.boot = boot;
    takePersonFromFragment(boot); // the "continue on another device" link
    this.handlers = new Map();
    this.pending = new Map();
    this.nextId = 1;
    this.ws = null;
    this.backoff = 500;
    this.closedByUs = false;
    this.restarting = false;
    this.connected = false;
    this.lastWelcome = null;
    this.lastSeq = null; // the highest seq seen: a reconnect resumes from it (docs/protocol.md)
    this.saving = false; // a command waits for the server to take it ("saving…")
    this.retryTimer = null;
  }

  // Subscribe to a message type. A "welcome" that came before is replayed at once,
  // so modules that load late still get the snapshot. A reconnect that resumed gets no
  // "welcome" (the page's state stands; the missed messages follow) but "resumed".
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    if (type === "welcome" && this.lastWelcome) fn(this.lastWelcome);
    return this;
  }

  emit(type, msg) {
    for (const fn of this.handlers.get(type) || []) {
      try { fn(msg); } catch (err) { console.error(err); }
    }
  }

  open() {
    const ws = new WebSocket(wsUrl(this.boot.ws));
    this.ws = ws;
    this.emit("status", { state: "connecting" });
    ws.onopen = () => {
      const hello = { type: "hello" };
      if (this.boot.token) hello.token = this.boot.token;
      if (this.lastSeq !== null) hello.seq = this.lastSeq; // only what we missed, please
      const person = storedPerson(this.boot); // on a shared audience link: who we are
      if (person) hello.person = person;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === "error" && msg.key) msg.message = errorText(msg); // the server logs the English
      if (typeof msg.seq === "number" && (this.lastSeq === null || msg.seq > this.lastSeq)) {
        this.lastSeq = msg.seq;
      }
      if (msg.type === "welcome" && msg.resumed === true) {
        // What was missed follows as ordinary messages: the page keeps its state, and
        // "resumed" tells those that must start something again (the media session).
        this.connected = true;
        this.restarting = false;
        this.backoff = 500;
        this.emit("status", { state: this.pending.size ? "saving" : "connected" });
        this.resendPending();
        this.emit("resumed", msg);
        return;
      }
      // A person token the server refused will not work again: the next load starts anew.
      if (msg.type === "error" && msg.code === "bad_person") forgetPerson(this.boot);
      if (msg.type === "welcome") {
        keepPerson(this.boot, msg.you?.person_token);
        this.lastWelcome = msg;
        this.connected = true;
        this.restarting = false;
        this.backoff = 500;
        this.emit("status", { state: this.pending.size ? "saving" : "connected" });
        this.resendPending(); // what the last connection never acknowledged, same keys
      }
      if ((msg.type === "ack" || msg.type === "error") && msg.id != null && this.pending.has(msg.id)) {
        const entry = this.pending.get(msg.id);
        if (msg.type === "error" && msg.code === "unavailable") {
          // Not stored (or not known to be): send it again, with its key, a little later.
          this.retryLater(msg.retry_after);
          return;
        }
        this.pending.delete(msg.id);
        if (msg.type === "ack") entry.resolve(msg); else entry.reject(msg);
        if (this.saving && this.pending.size === 0) {
          this.saving = false;
          this.emit("status", { state: "connected" });
        }
      }
      this.emit(msg.type, msg);
      // Page-wide listeners that hold no Conn of their own (rec.js, the REC notice).
      window.dispatchEvent(new CustomEvent("confsvc:message", { detail: msg }));
    };
    ws.onclose = (ev) => {
      this.connected = false;
      if (this.closedByUs) return this.rejectPending("connection closed");
      // 4001/4003: the link expired or was revoked while open; the page says which.
      const ended = LINK_ENDED[ev.code];
      const fatal = ev.code === 1008 || ended !== undefined;
      // 1001: the server is restarting (SIGTERM); say so until a welcome comes back.
      if (ev.code === 1001) this.restarting = true;
      const state = ended || (fatal ? "refused" : this.restarting ? "restarting" : "reconnecting");
      this.emit("status", { state, reason: ev.reason });
      // Unacknowledged commands stay pending and are re-sent once a welcome comes back;
      // a link that ended or was refused will not come back.
      if (fatal) return this.rejectPending("connection refused");
      setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  // Send a command; resolves with the ack, rejects with the error message. It carries
  // an idempotency key and stays pending across reconnects and "unavailable" answers
  // until the server acknowledges or refuses it: sent again, it is stored once.
  command(name, args = {}) {
    const id = this.nextId++;
    const message = { type: "command", id, name, args, key: newKey() };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { message, resolve, reject });
      if (!(this.connected && this.send(message))) this.showSaving();
    });
  }

  resendPending() {
    for (const { message } of this.pending.values()) this.send(message);
  }

  retryLater(retryAfter) {
    this.showSaving();
    if (this.retryTimer !== null) return;
    const ms = Math.min(Math.max(Number(retryAfter) || 1, 0.2), 30) * 1000;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.connected) this.resendPending();
    }, ms);
  }

  showSaving() {
    if (this.saving) return;
    this.saving = true;
    if (this.connected) this.emit("status", { state: "saving" });
  }

  rejectPending(message) {
    for (const { reject } of this.pending.values()) reject({ code: "disconnected", message });
    this.pending.clear();
    this.saving = false;
  }

  close() {
    this.closedByUs = true;
    if (this.ws) this.ws.close();
  }
}

export function pick(localized, lang) {
  if (!localized) return "";
  return localized[lang] || localized.en || Object.values(localized)[0] || "";
}
