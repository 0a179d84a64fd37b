// Host console: run-of-show buttons and the live agenda table.
import { pick } from "./conn.js";
import { boot, conn, lang, t } from "./page.js";
import { RosClock, fmtClock, fmtDuration, renderRosCommon, siteNames } from "./ros.js";

const clock = new RosClock();
const $ = (sel) => document.querySelector(sel);
const firstTz = Object.values(boot.site_timezones || {})[0];
// Sites in other time zones see their own clock beside the first site's.
const otherZones = Object.entries(boot.site_timezones || {}).filter(([, tz]) => tz !== firstTz);
function clockAllZones(ts) {
  if (ts == null) return "—";
  const extra = otherZones.map(([site, tz]) => `${pick(boot.site_names[site], lang)} ${fmtClock(ts, lang, tz)}`);
  return [fmtClock(ts, lang, firstTz), ...extra].join(" · ");
}
// Every site's clock at ``ts``, the sites sharing a time zone named together:
// "Warszawa, Olsztyn 10:30 · Weifang 16:30".
const zones = new Map();
for (const [site, tz] of Object.entries(boot.site_timezones || {})) zones.set(tz, [...(zones.get(tz) || []), site]);
function eachSiteClock(ts) {
  if (ts == null) return "";
  return [...zones].map(([tz, sites]) => {
    const names = sites.map((s) => pick(boot.site_names[s], lang)).join(", ");
    return `${names} ${fmtClock(ts, lang, tz)}`;
  }).join(" · ");
}
// The warning before an item runs over: this many seconds before its planned end.
const WARN_S = 60;

function render() {
  const v = clock.view;
  if (!v) return;
  renderRosCommon(v, { boot, lang, t });
  const buttons = document.querySelectorAll("button[data-cmd]");
  const allowed = {
    planned: ["ros.start"],
    running: ["ros.previous", "ros.next", "ros.extend", "ros.pause", "ros.end", "floor.give", "floor.clear"],
    paused: ["ros.resume", "ros.previous", "ros.next", "ros.extend", "ros.end", "floor.give", "floor.clear"],
    ended: [],
  }[v.status] || [];
  for (const b of buttons) b.disabled = !allowed.includes(b.dataset.cmd);
  const tbody = $("[data-ros-table] tbody");
  tbody.replaceChildren();
  v.items.forEach((item, i) => {
    const tr = document.createElement("tr");
    if (i === v.current) tr.className = "current";
    else if (item.actual_end) tr.className = "done";
    const planned = item.planned_s + item.extended_s;
    const actual = i === v.current ? clock.elapsed() : item.actual_s;
    // The floor goes under the item's title, not in a column of its own: eight columns
    // did not fit the agenda card of a 1,366 px laptop in Polish (the last one was cut).
    const what = document.createElement("td");
    const title = document.createElement("div");
    title.className = "ros-item-title";
    title.textContent = pick(item.title, lang);
    const floor = document.createElement("div");
    floor.className = "ros-item-floor muted";
    floor.textContent = siteNames(boot, item.floor, lang, t);
    what.append(title, floor);
    const cells = [
      String(i + 1),
      what,
      clockAllZones(item.planned_start),
      fmtClock(item.actual_start, lang, firstTz),
      fmtDuration(planned),
      actual == null ? "—" : fmtDuration(actual),
    ];
    for (const cell of cells) {
      if (typeof cell !== "string") { tr.appendChild(cell); continue; }
      const td = document.createElement("td");
      td.textContent = cell;
      tr.appendChild(td);
    }
    if (actual != null && actual > planned) tr.lastChild.classList.add("overrun");
    const td = document.createElement("td");
    if (i !== v.current && (v.status === "running" || v.status === "paused")) {
      const b = document.createElement("button");
      b.textContent = t.jump;
      b.className = "small";
      b.addEventListener("click", () => run("ros.jump", { item: item.id, ...seenItem() }));
      td.appendChild(b);
    }
    tr.appendChild(td);
    tbody.appendChild(tr);
  });
  tick();
}

function tick() {
  if (!clock.view) return;
  const v = clock.view;
  const now = clock.now(); // the server's time: its last view plus the local clock since
  $("[data-ros-clock]").textContent = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZone: firstTz }).format(new Date(now * 1000));
  $("[data-ros-clock-zones]").textContent = otherZones.length ? eachSiteClock(now) : "";
  $("[data-ros-elapsed]").textContent = fmtDuration(clock.elapsed());
  const over = clock.overrun();
  const box = $("[data-ros-overrun]");
  box.textContent = fmtDuration(over);
  box.closest(".timer").classList.toggle("overrun", over > 0);
  const end = clock.predictedEnd();
  $("[data-ros-end]").textContent = fmtClock(end, lang, firstTz);
  $("[data-ros-end-zones]").textContent = otherZones.length ? eachSiteClock(end) : "";
  // Planned against actual: what is left of the current item, and a warning before it runs over.
  const live = v.current != null && v.current_planned_s != null && (v.status === "running" || v.status === "paused");
  const remaining = live ? v.current_planned_s - clock.elapsed() : null;
  $("[data-ros-remaining]").textContent = remaining == null ? "—" : fmtDuration(Math.max(0, remaining));
  const warn = remaining == null ? "" : remaining <= 0 ? "over" : remaining <= WARN_S ? "soon" : "";
  const banner = $("[data-ros-warning]");
  if (banner.dataset.state !== warn) { // set once a change, so a screen reader hears it once
    banner.dataset.state = warn;
    banner.textContent = warn ? t[warn] : "";
    banner.hidden = !warn;
    banner.setAttribute("role", warn ? "alert" : "status");
  }
  $("[data-ros-remaining]").closest(".timer").dataset.warn = warn;
  const next = v.current != null ? v.items[v.current + 1] : v.items[0];
  $("[data-ros-next]").textContent = next ? pick(next.title, lang) : v.current != null ? t.last_item : "—";
}

function showError(msg) {
  const el = $("[data-error]");
  el.textContent = msg || "";
  el.hidden = !msg;
}

// The item this console shows as current: sent with every command on it, so that when
// another host moved the clock first the server refuses this one as stale ("already
// moved to … by the host") instead of moving twice.
function seenItem() {
  const v = clock.view;
  return v && v.current != null && v.items[v.current] ? { at_item: v.items[v.current].id } : {};
}

async function run(name, args) {
  showError("");
  try {
    await conn.command(name, args);
  } catch (err) {
    showError(err.message || String(err));
  }
}

for (const b of document.querySelectorAll("button[data-cmd]")) {
  b.addEventListener("click", () => {
    const args = {};
    if (b.dataset.minutes) args.minutes = Number(b.dataset.minutes);
    if (b.dataset.sites !== undefined) args.sites = b.dataset.sites ? b.dataset.sites.split(",") : [];
    run(b.dataset.cmd, b.dataset.cmd === "ros.start" ? args : { ...args, ...seenItem() });
  });
}

conn.on("status", ({ state }) => {
  const el = $("[data-conn]");
  el.textContent = t[state] || state;
  el.dataset.state = state;
});
conn.on("welcome", (msg) => { if (msg.views.ros) { clock.update(msg.views.ros); render(); } });
conn.on("ros", (msg) => { clock.update(msg.ros); render(); });
setInterval(tick, 500);
window.confsvc.clock = clock;

// -- invite links ---------------------------------------------------------------
const inviteForm = document.querySelector("[data-invite-form]");
function renderInvites(list) {
  const tbody = document.querySelector("[data-invites] tbody");
  tbody.replaceChildren();
  for (const inv of list.slice().reverse()) {
    const tr = document.createElement("tr");
    if (inv.revoked) tr.className = "done";
    const role = t.roles[inv.role] || inv.role;
    const label = inv.site ? `${role} · ${pick(boot.site_names[inv.site], lang) || inv.site}` : role;
    for (const text of [label, inv.name || "", new Date(inv.expires * 1000).toLocaleDateString(lang)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    if (inv.revoked) {
      td.textContent = t.revoked;
    } else if (inv.id !== boot.invite) {
      const b = document.createElement("button");
      b.className = "small danger";
      b.textContent = t.revoke;
      b.addEventListener("click", () => run("invite.revoke", { invite: inv.id }));
      td.appendChild(b);
    }
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
}
conn.on("welcome", (msg) => {
  boot.invite = msg.you.invite;
  if (msg.views.invites) renderInvites(msg.views.invites.invites);
});
conn.on("invites", (msg) => renderInvites(msg.invites));
conn.on("invite", (msg) => {
  // The server prints the link with the public URL (the proxy's, under its prefix).
  document.querySelector("[data-new-link-url]").value = msg.url || location.origin + msg.path;
  document.querySelector("[data-new-link]").hidden = false;
});
inviteForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const data = new FormData(inviteForm);
  const msg = { type: "invite.create", id: `inv-${Date.now()}`, role: data.get("role") };
  if (data.get("role") === "site") msg.site = data.get("site") || null;
  if (data.get("name")) msg.name = data.get("name");
  showError("");
  conn.send(msg);
});
conn.on("error", (msg) => { if (typeof msg.id === "string" && msg.id.startsWith("inv-")) showError(msg.message); });
document.querySelector("[data-copy]").addEventListener("click", async () => {
  const input = document.querySelector("[data-new-link-url]");
  input.select();
  try { await navigator.clipboard.writeText(input.value); } catch { document.execCommand("copy"); }
});
