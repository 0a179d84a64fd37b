// The sites' video for viewers (participant room, host and moderator consoles): the
// floor's sites large, the others small, each labelled with its city in the page's
// language; current item and timer; connection quality; reconnects by itself.
import { pick } from "./conn.js";
import { MediaSession, quality } from "./media-rtc.js";
import { conn, lang } from "./page.js";
import { RosClock, fmtDuration } from "./ros.js";

const panel = document.querySelector("[data-video-panel]");
const el = document.getElementById("media-i18n");
const t = el ? JSON.parse(el.textContent) : {};

if (panel) {
  const grid = panel.querySelector("[data-video-grid]");
  const status = panel.querySelector("[data-video-status]");
  const errorBox = panel.querySelector("[data-video-error]");
  const itemEl = panel.querySelector("[data-video-item]");
  const timerEl = panel.querySelector("[data-video-timer]");
  const tiles = {};
  const clock = new RosClock();
  let floor = [];
  let live = [];
  let prevStats = {};
  const media = { state: "idle", stats: {}, firstFrameMs: {}, firstFrameSinceNavigationMs: {}, live: [] };
  window.confsvc = Object.assign(window.confsvc || {}, { media });

  for (const tile of grid.querySelectorAll("[data-site]")) {
    const site = tile.dataset.site;
    const video = tile.querySelector("video");
    // srcObject is set once the page has loaded: a video element holding a stream
    // that has no frames yet (a site not connected) would hold the load event forever.
    const stream = new MediaStream();
    tiles[site] = { tile, video, stream, quality: tile.querySelector("[data-quality]"), state: tile.querySelector("[data-tile-state]") };
    const started = performance.now();
    // Since this panel started / since the page's navigation started.
    const onFrame = () => {
      media.firstFrameMs[site] = Math.round(performance.now() - started);
      media.firstFrameSinceNavigationMs[site] = Math.round(performance.now());
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame);
    else video.addEventListener("loadeddata", onFrame, { once: true });
  }

  function layout() {
    for (const [site, x] of Object.entries(tiles)) {
      const onFloor = floor.includes(site);
      x.tile.classList.toggle("floor", onFloor);
      x.tile.classList.toggle("offline", !live.includes(site));
      x.tile.style.order = onFloor ? 0 : 1;
      x.state.textContent = !live.includes(site) ? t.offline : onFloor ? t.on_floor : t.listening;
      x.video.muted = !onFloor;  // the server forwards audio only from the floor anyway
    }
    grid.dataset.floorCount = String(floor.length);
  }

  function renderItem() {
    const v = clock.view;
    if (!v) return;
    const cur = v.current != null ? v.items[v.current] : null;
    itemEl.textContent = cur ? pick(cur.title, lang) : t.not_started;
    floor = v.floor || [];
    layout();
  }

  conn.on("welcome", (msg) => { if (msg.views.ros) { clock.update(msg.views.ros); renderItem(); } });
  conn.on("ros", (msg) => { clock.update(msg.ros); renderItem(); });
  setInterval(() => { if (clock.view) timerEl.textContent = fmtDuration(clock.elapsed()); }, 500);

  const session = new MediaSession({
    conn,
    publish: false,
    subscribe: true,
    onTrack(site, kind, track) {
      const x = tiles[site];
      if (!x) return;
      for (const old of x.stream.getTracks().filter((tr) => tr.kind === kind)) x.stream.removeTrack(old);
      x.stream.addTrack(track);
      const play = () => {
        if (x.video.srcObject !== x.stream) x.video.srcObject = x.stream;
        x.video.play().catch(() => {
          // Autoplay with sound may be blocked until the viewer clicks.
          errorBox.textContent = t.click_to_play;
          errorBox.hidden = false;
        });
      };
      if (document.readyState === "complete") play();
      else window.addEventListener("load", play, { once: true });
    },
    onState(state, reason) {
      media.state = state;
      status.textContent = t[state] || state;
      status.dataset.state = state;
      if (state === "failed") {
        errorBox.textContent = `${t.connection_failed} ${reason || ""}`.trim();
        errorBox.hidden = false;
      } else if (state === "connected") {
        errorBox.hidden = true;
      }
    },
    onSites(sites) { live = sites; media.live = sites; layout(); },
  });
  media.sample = () => session.sample();
  panel.addEventListener("click", () => {
    for (const x of Object.values(tiles)) x.video.play().catch(() => {});
    if (errorBox.textContent === t.click_to_play) errorBox.hidden = true;
  });

  setInterval(async () => {
    const stats = await session.sample();
    media.stats = stats;
    for (const [site, x] of Object.entries(tiles)) {
      const q = quality(prevStats[site], stats[site]);
      x.quality.dataset.quality = q;
      x.quality.title = t[`quality_${q}`] || q;
      x.quality.textContent = t[`quality_${q}`] || q;
    }
    prevStats = stats;
  }, 2000);

  conn.on("status", ({ state }) => {
    if (state === "reconnecting") { status.textContent = t.reconnecting; status.dataset.state = "reconnecting"; }
  });
  layout();
  session.start();
}
