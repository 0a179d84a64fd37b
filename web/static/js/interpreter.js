// The interpreter's booth: the floor's video and sound (or, for relay interpretation,
// another channel, chosen in the picker), the microphone sent all along but heard only
// while this interpreter is on air (the server forwards it then: confsvc/core/
// interpretation.py decides), ON AIR / cough / leave, and the booth partner's state.
// Take-over is one press: interp.take with the live interpreter this page saw.
import { errorText, pick } from "./conn.js";
import { ChannelPicker } from "./channels.js";
import { MediaSession } from "./media-rtc.js";
import { boot, conn, t as rosT } from "./page.js";
import { RosClock, fmtDuration } from "./ros.js";
import { VideoGrid } from "./video-grid.js";

const $ = (sel) => document.querySelector(sel);
const t = JSON.parse(document.getElementById("booth-i18n").textContent);
const onAirEl = $("[data-on-air]");
const takeBtn = $("[data-take]");
const coughBtn = $("[data-cough]");
const releaseBtn = $("[data-release]");
const errorEl = $("[data-booth-error]");
const listEl = $("[data-booth-list]");
const mediaStatus = $("[data-media-status]");
const channel = $("[data-booth-card]").dataset.channel;

const booth = { me: null, live: null, coughing: false, members: [], state: "off" };
const media = { state: "idle", live: [] };
window.confsvc = Object.assign(window.confsvc || {}, { booth, media });

function showError(text) {
  errorEl.textContent = text || "";
  errorEl.hidden = !text;
}

function nameOf(id) {
  const m = booth.members.find((x) => x.id === id);
  return m ? m.name : id;
}

function render() {
  const mine = booth.me && booth.live === booth.me.id;
  booth.state = mine ? (booth.coughing ? "coughing" : "on_air") : booth.live ? "partner" : "off";
  onAirEl.dataset.state = booth.state;
  onAirEl.textContent = mine ? (booth.coughing ? t.coughing : t.on_air) : booth.live ? t.partner_live.replace("{name}", nameOf(booth.live)) : t.off;
  document.body.classList.toggle("on-air", mine && !booth.coughing);
  takeBtn.disabled = !!mine;
  takeBtn.textContent = booth.live && !mine ? t.take_over.replace("{name}", nameOf(booth.live)) : t.take;
  coughBtn.disabled = !mine;
  coughBtn.setAttribute("aria-pressed", String(!!(mine && booth.coughing)));
  releaseBtn.disabled = !mine;
  listEl.replaceChildren(...booth.members.map((m) => {
    const li = document.createElement("li");
    li.textContent = m.id === booth.live ? `${m.name} · ${t.live}` : m.name;
    li.dataset.live = String(m.id === booth.live);
    return li;
  }));
}

function update(view) {
  if (!view) return;
  if (view.me) booth.me = view.me;
  const mine = view.channels.find((c) => c.channel === channel);
  if (!mine) return;
  booth.live = mine.interpreter || null;
  booth.coughing = !!mine.coughing;
  booth.members = mine.booth || [];
  render();
}

conn.on("welcome", (msg) => update(msg.views.interpretation));
conn.on("interpretation", (msg) => update(msg.interpretation));
conn.on("status", ({ state }) => {
  const el = $("[data-conn]");
  el.textContent = rosT[state] || state;
  el.dataset.state = state;
});

async function send(name, args) {
  showError("");
  try {
    await conn.command(name, args);
  } catch (err) {
    showError(errorText(err));
  }
}

takeBtn.addEventListener("click", () => send("interp.take", { seen: booth.live || "" }));
releaseBtn.addEventListener("click", () => send("interp.release", {}));
coughBtn.addEventListener("click", () => send("interp.cough", { on: !booth.coughing }));

// The run of show, read-only.
const clock = new RosClock();
function renderRos() {
  const v = clock.view;
  if (!v) return;
  const cur = v.current != null ? v.items[v.current] : null;
  $("[data-ros-title]").textContent = cur ? pick(cur.title, boot.lang) : rosT.not_started || "—";
  $("[data-ros-status]").textContent = rosT[v.status] || v.status;
  $("[data-ros-floor]").textContent = (v.floor || []).map((s) => pick(boot.site_names[s] || {}, boot.lang) || s).join(", ") || "—";
  if (grid) grid.setFloor(v.floor);
}
conn.on("welcome", (msg) => { if (msg.views.ros) { clock.update(msg.views.ros); renderRos(); } });
conn.on("ros", (msg) => { clock.update(msg.ros); renderRos(); });
setInterval(() => { if (clock.view) $("[data-ros-elapsed]").textContent = fmtDuration(clock.elapsed()); }, 500);

// Media: the microphone (audio only), every site's video and the floor's sound, and the
// channel track for relay interpretation.
const panel = $("[data-video-panel]");
const vt = JSON.parse(document.getElementById("video-i18n").textContent);
const grid = panel ? new VideoGrid(panel, vt, media) : null;
const pickerEl = panel ? panel.querySelector("[data-channel-picker]") : null;
let stream = null;

const session = new MediaSession({
  conn,
  publish: true,
  stream: () => stream,
  subscribe: true,
  channel: !!pickerEl,
  config: Array.isArray(boot.ice_servers)
    ? { sites: Object.keys(boot.site_names || {}), ice_servers: boot.ice_servers, max_video_kbps: boot.max_video_kbps }
    : null,
  onTrack: (site, kind, track) => grid && grid.onTrack(site, kind, track),
  onChannelTrack: (track) => picker && picker.onTrack(track),
  onSites(live) { media.live = live; if (grid) grid.setLive(live); },
  onState(state, reason) {
    media.state = state;
    if (grid) grid.setState(state, reason);
    mediaStatus.textContent = t[state] || state;
    mediaStatus.dataset.state = state;
  },
});
const picker = pickerEl ? new ChannelPicker(pickerEl, session, grid) : null;
if (picker) { picker.chosen = ""; picker.apply(); }  // an interpreter starts on the floor
if (grid) grid.watch(session);

async function start() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  } catch (err) {
    showError(`${t.no_mic} (${err.name || err})`);
    return;
  }
  session.start();
}
start();
render();
