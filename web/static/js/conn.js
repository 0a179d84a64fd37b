// The conference WebSocket: hello, commands with acks, live messages, reconnection.
// Used by every page; a page subscribes with conn.on(type, fn).

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

// Close codes of a link whose powers ended while the socket was open (docs/protocol.md).
const LINK_ENDED = { 4001: "expired", 4003: "revoked" };

export class Conn {
  constructor(boot) {
    this.boot = boot;
    this.handlers = new Map();
    this.pending = new Map();
    this.nextId = 1;
    this.ws = null;
    this.backoff = 500;
    this.closedByUs = false;
    this.restarting = false;
    this.connected = false;
    this.lastWelcome = null;
  }

  // Subscribe to a message type. A "welcome" that came before is replayed at once,
  // so modules that load late still get the snapshot.
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
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === "welcome") {
        this.lastWelcome = msg;
        this.connected = true;
        this.restarting = false;
        this.backoff = 500;
        this.emit("status", { state: "connected" });
      }
      if ((msg.type === "ack" || msg.type === "error") && msg.id != null && this.pending.has(msg.id)) {
        const { resolve, reject } = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.type === "ack") resolve(msg); else reject(msg);
      }
      this.emit(msg.type, msg);
    };
    ws.onclose = (ev) => {
      this.connected = false;
      for (const { reject } of this.pending.values()) reject({ code: "disconnected", message: "connection lost" });
      this.pending.clear();
      if (this.closedByUs) return;
      // 4001/4003: the link expired or was revoked while open; the page says which.
      const ended = LINK_ENDED[ev.code];
      const fatal = ev.code === 1008 || ended !== undefined;
      // 1001: the server is restarting (SIGTERM); say so until a welcome comes back.
      if (ev.code === 1001) this.restarting = true;
      const state = ended || (fatal ? "refused" : this.restarting ? "restarting" : "reconnecting");
      this.emit("status", { state, reason: ev.reason });
      if (fatal) return;
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

  // Send a command; resolves with the ack, rejects with the error message.
  command(name, args = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (!this.send({ type: "command", id, name, args })) {
        this.pending.delete(id);
        reject({ code: "disconnected", message: "not connected" });
      }
    });
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
