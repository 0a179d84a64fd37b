// The public live page's broadcast: the program as HLS (docs/media.md, "Broadcast").
// Played natively where the browser can (canPlayType), else with the vendored hls.js,
// loaded only then. Until the playlist exists the page asks for it every few seconds: a
// static file, the same for every reader. States: off (not started), starting, live,
// ended, failed (then it tries again). ?player=hlsjs or ?player=native picks one (tests).
import { jsonData } from "./questions_common.js";

const PROBE_MS = 3000;
const RETRY_MS = 5000;
const HLS_MIME = "application/vnd.apple.mpegurl";

const box = document.querySelector("[data-broadcast]");
if (box) start(box);

function start(box) {
  const video = box.querySelector("[data-broadcast-video]");
  const stateNode = box.querySelector("[data-broadcast-state]");
  const t = jsonData("broadcast-i18n");
  const src = box.dataset.src;
  const forced = new URLSearchParams(location.search).get("player");
  const status = { state: "off", mode: null, hls: null, errors: 0 };
  let rosStatus = document.querySelector("[data-ros-status]")?.dataset.status || "planned";
  let timer = null;
  window.confsvc = Object.assign(window.confsvc || {}, { broadcast: status });

  function setState(s) {
    if (status.state === s) return;
    status.state = s;
    box.dataset.state = s;
    stateNode.textContent = t[s] || s;
  }

  function later(fn, ms) {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  }

  async function probe() {
    if (status.mode) return;
    let text = null;
    try {
      const r = await fetch(src, { cache: "no-store" });
      if (r.ok) text = await r.text();
    } catch { /* offline for a moment: ask again */ }
    if (text === null || !/\.ts\s*$/m.test(text)) {
      setState(rosStatus === "ended" ? "ended" : rosStatus === "planned" ? "off" : "starting");
      if (rosStatus !== "ended") later(probe, PROBE_MS);
      return;
    }
    if (text.includes("#EXT-X-ENDLIST")) { setState("ended"); return; }
    setState("starting");
    await play();
  }

  function useNative() {
    if (forced === "native") return true;
    if (forced === "hlsjs") return false;
    return video.canPlayType(HLS_MIME) !== "";
  }

  async function play() {
    if (useNative()) {
      status.mode = "native";
      video.src = src;
    } else {
      const Hls = await loadHls();
      if (!Hls || !Hls.isSupported()) { fail(); return; }
      status.mode = "hlsjs";
      // No worker: it would be a blob: script, which the page's CSP does not allow.
      // Two segments behind the live edge; fallen further behind (a stall, a busy
      // machine), play a little faster, and past six segments jump back to the edge.
      const hls = new Hls({
        enableWorker: false, lowLatencyMode: false, liveSyncDurationCount: 2,
        liveMaxLatencyDurationCount: 6, maxLiveSyncPlaybackRate: 1.25,
      });
      status.hls = hls;
      hls.on(Hls.Events.ERROR, (_event, data) => { if (data.fatal) fail(); });
      hls.loadSource(src);
      hls.attachMedia(video);
    }
    video.play().catch(() => { /* autoplay refused: the controls are there */ });
  }

  function fail() {
    status.errors += 1;
    stop();
    if (rosStatus === "ended") { setState("ended"); return; }
    setState("failed");
    later(probe, RETRY_MS);
  }

  function stop() {
    if (status.hls) { status.hls.destroy(); status.hls = null; }
    status.mode = null;
    video.removeAttribute("src");
    video.load();
  }

  video.addEventListener("playing", () => setState("live"));
  video.addEventListener("ended", () => { stop(); setState("ended"); });
  video.addEventListener("error", () => { if (status.mode === "native") fail(); });

  window.addEventListener("confsvc:live", (ev) => {
    const msg = ev.detail;
    const ros = msg.type === "ros" ? msg.ros : msg.type === "welcome" ? msg.views?.ros : null;
    if (!ros || ros.status === rosStatus) return;
    rosStatus = ros.status;
    if (!status.mode) later(probe, 0);  // started or ended: look again now
  });

  probe();
}

let hlsLoading = null;

function loadHls() {
  // hls.min.js is a classic script (a UMD bundle), not a module: add it once, from our origin.
  if (!hlsLoading) {
    hlsLoading = new Promise((resolve) => {
      const script = document.createElement("script");
      script.src = box.dataset.hls;
      script.onload = () => resolve(window.Hls || null);
      script.onerror = () => { hlsLoading = null; resolve(null); };
      document.head.append(script);
    });
  }
  return hlsLoading;
}
