// The sites' video for viewers (participant room, host and moderator consoles): every
// site's tiles (video-grid.js), the current item and its timer, and one subscribe-only
// MediaSession that reconnects by itself. The site page drives its own grid (site.js).
import { pick } from "./conn.js";
import { ChannelPicker } from "./channels.js";
import { MediaSession } from "./media-rtc.js";
import { boot, conn, lang } from "./page.js";
import { RosClock, fmtDuration } from "./ros.js";
import { VideoGrid } from "./video-grid.js";

const panel = document.querySelector("[data-video-panel]");
const el = document.getElementById("video-i18n");
const t = el ? JSON.parse(el.textContent) : {};

if (panel) {
  const itemEl = panel.querySelector("[data-video-item]");
  const timerEl = panel.querySelector("[data-video-timer]");
  const clock = new RosClock();
  const media = { state: "idle", live: [] };
  window.confsvc = Object.assign(window.confsvc || {}, { media });
  const grid = new VideoGrid(panel, t, media);
  const pickerEl = panel.querySelector("[data-channel-picker]");

  function renderItem() {
    const v = clock.view;
    if (!v) return;
    const cur = v.current != null ? v.items[v.current] : null;
    itemEl.textContent = cur ? pick(cur.title, lang) : t.not_started;
    grid.setFloor(v.floor);
  }

  conn.on("welcome", (msg) => { if (msg.views.ros) { clock.update(msg.views.ros); renderItem(); } });
  conn.on("ros", (msg) => { clock.update(msg.ros); renderItem(); });
  setInterval(() => { if (clock.view) timerEl.textContent = fmtDuration(clock.elapsed()); }, 500);

  const session = new MediaSession({
    conn,
    publish: false,
    subscribe: true,
    // From the page: the offer is ready by the time the WebSocket is welcome.
    config: Array.isArray(boot.ice_servers)
      ? { sites: grid.sites, ice_servers: boot.ice_servers, max_video_kbps: boot.max_video_kbps }
      : null,
    onTrack: (site, kind, track) => grid.onTrack(site, kind, track),
    onState(state, reason) {
      media.state = state;
      grid.setState(state, reason);
    },
    onSites(sites) { media.live = sites; grid.setLive(sites); },
    channel: !!pickerEl,
    onChannelTrack: (track) => picker && picker.onTrack(track),
  });
  const picker = pickerEl ? new ChannelPicker(pickerEl, session, grid) : null;
  grid.watch(session);

  conn.on("status", ({ state }) => {
    if (state === "reconnecting" || state === "restarting") grid.setState("reconnecting");
  });
  session.start();
}
