// The site page: camera and microphone preview, device pickers, join/leave, whether
// the agenda lets this room be heard right now (the server enforces it either way), and,
// once joined, the other sites' video and the floor's audio (never its own).
//
// One RTCPeerConnection both publishes and subscribes: the relay keeps one peer per
// WebSocket (a second offer replaces the first), and one offer may carry the sendonly
// camera/microphone sections and a recvonly audio+video pair per other site.
import { pick } from "./conn.js";
import { ChannelPicker } from "./channels.js";
import { MediaSession } from "./media-rtc.js";
import { boot, conn, lang, t } from "./page.js";
import { RosClock, fmtDuration, siteNames } from "./ros.js";
import { VideoGrid } from "./video-grid.js";

const m = JSON.parse(document.getElementById("media-i18n").textContent);
const $ = (sel) => document.querySelector(sel);
const preview = $("[data-preview]");
const cameraSel = $("[data-camera]");
const micSel = $("[data-microphone]");
const joinBtn = $("[data-join]");
const leaveBtn = $("[data-leave]");
const errorBox = $("[data-site-error]");
const onAir = $("[data-on-air]");
const mediaStatus = $("[data-media-status]");
const clock = new RosClock();
let stream = null;
let joined = false;
let floor = [];
const media = { state: "idle", live: "off" };
window.confsvc = Object.assign(window.confsvc || {}, { media });
// The other sites: a grid of tiles without this site's (the template leaves it out).
const panel = document.querySelector("[data-video-panel]");
const vt = panel ? JSON.parse(document.getElementById("video-i18n").textContent) : {};
const grid = panel ? new VideoGrid(panel, vt, media) : null;
if (grid) grid.setReceiving(false);  // until this site joins
const pickerEl = panel ? panel.querySelector("[data-channel-picker]") : null;

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

function cameraError(err) {
  const name = err && err.name;
  if (name === "NotFoundError" || name === "OverconstrainedError") return m.no_camera;
  if (name === "NotAllowedError" || name === "SecurityError") return m.denied;
  if (name === "NotReadableError" || name === "AbortError") return m.busy;
  return `${m.camera_failed} ${err && err.message ? err.message : err}`;
}

async function openDevices() {
  if (!navigator.mediaDevices) { showError(m.insecure); return false; }
  const constraints = {
    audio: micSel.value ? { deviceId: { exact: micSel.value } } : true,
    video: cameraSel.value ? { deviceId: { exact: cameraSel.value }, width: 640, height: 480 } : { width: 640, height: 480 },
  };
  try {
    const next = await navigator.mediaDevices.getUserMedia(constraints);
    if (stream) for (const tr of stream.getTracks()) tr.stop();
    stream = next;
    preview.srcObject = stream;
    showError("");
    await listDevices();
    return true;
  } catch (err) {
    showError(cameraError(err));
    return false;
  }
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (sel, kind, current) => {
    const keep = sel.value || current;
    sel.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => {
      const o = document.createElement("option");
      o.value = d.deviceId;
      o.textContent = d.label || `${kind} ${i + 1}`;
      return o;
    }));
    if (keep) sel.value = keep;
  };
  const cur = (kind) => stream && stream.getTracks().find((tr) => tr.kind === kind)?.getSettings().deviceId;
  fill(cameraSel, "videoinput", cur("video"));
  fill(micSel, "audioinput", cur("audio"));
}

const session = new MediaSession({
  conn,
  publish: true,
  // Never its own site: a room must not hear itself come back from the relay.
  subscribe: (sites) => (grid ? grid.sites.filter((s) => s !== boot.site && sites.includes(s)) : []),
  stream: () => stream,
  maxKbps: boot.max_video_kbps,
  config: Array.isArray(boot.ice_servers)
    ? { sites: Object.keys(boot.site_names || {}), ice_servers: boot.ice_servers, max_video_kbps: boot.max_video_kbps }
    : null,
  onTrack: (site, kind, track) => grid && grid.onTrack(site, kind, track),
  onSites: (live) => grid && grid.setLive(live),
  // The channel the room's loudspeakers play (the picker in the other sites' panel).
  channel: !!pickerEl,
  onChannelTrack: (track) => picker && picker.onTrack(track),
  onState(state, reason) {
    if (grid) grid.setState(state, reason);
    media.state = state;
    mediaStatus.textContent = m[state] || state;
    mediaStatus.dataset.state = state;
    if (state === "connected") showError("");
    if (state === "failed") showError(`${m.connection_failed} ${reason || ""}`.trim());
    renderOnAir();
  },
});

function renderOnAir() {
  let live = "off";
  if (joined && media.state === "connected") live = floor.includes(boot.site) ? "live" : "muted";
  media.live = live;
  onAir.dataset.live = live;
  onAir.textContent = m[live];
}

function renderRos() {
  const v = clock.view;
  if (!v) return;
  const cur = v.current != null ? v.items[v.current] : null;
  $("[data-ros-status]").textContent = t[v.status] || v.status;
  $("[data-ros-status]").dataset.status = v.status;
  $("[data-ros-title]").textContent = cur ? pick(cur.title, lang) : t.not_started;
  $("[data-ros-floor]").textContent = siteNames(boot, v.floor, lang, t);
  floor = v.floor || [];
  if (grid) grid.setFloor(floor);
  renderOnAir();
}

joinBtn.addEventListener("click", async () => {
  if (!stream && !(await openDevices())) return;
  joined = true;
  if (grid) grid.setReceiving(true);
  joinBtn.disabled = true;
  leaveBtn.disabled = false;
  await session.start();
});
leaveBtn.addEventListener("click", () => {
  joined = false;
  session.stop();
  if (grid) { grid.clear(); grid.setReceiving(false); }
  joinBtn.disabled = false;
  leaveBtn.disabled = true;
  renderOnAir();
});
for (const sel of [cameraSel, micSel]) {
  sel.addEventListener("change", async () => {
    if (!(await openDevices())) return;
    if (joined) await session.start();  // renegotiate with the new devices
  });
}

conn.on("status", ({ state }) => {
  const el = $("[data-conn]");
  el.textContent = t[state] || state;
  el.dataset.state = state;
});
conn.on("welcome", (msg) => {
  if (msg.views.ros) { clock.update(msg.views.ros); renderRos(); }
  // Which sites are live, before joining too (rtc.sites tells every change after that).
  conn.send({ type: "rtc.config", id: "site-live" });
});
conn.on("resumed", () => conn.send({ type: "rtc.config", id: "site-live" }));
conn.on("rtc.config", (msg) => { if (grid && msg.id === "site-live") grid.setLive(msg.live); });
conn.on("ros", (msg) => { clock.update(msg.ros); renderRos(); });
setInterval(() => { if (clock.view) $("[data-ros-elapsed]").textContent = fmtDuration(clock.elapsed()); }, 500);
if (grid) grid.watch(session);
const picker = pickerEl ? new ChannelPicker(pickerEl, session, grid) : null;
// The video bitrate cap the browser holds (RTCRtpSender parameters), for tests.
Object.defineProperty(media, "bitrateCapKbps", { get: () => session.bitrateCapKbps || null, enumerable: true });
// Which sites this page receives, as the relay answered (mid -> {site, kind}).
media.subscribed = () => [...new Set(Object.values(session.slots).map((s) => s.site))];
openDevices();
