// The sites' video tiles of a [data-video-panel]: the floor's sites large, the others
// small, each labelled with its city (the template writes the label in the page's
// language); a site's audio plays only while it holds the floor; connection quality per
// tile. Knows nothing of signalling: the page's MediaSession feeds it tracks, live sites
// and states (the participant room and consoles through video.js, the site page through
// site.js). Not for the site's own preview: that is a local stream, never a tile.
import { quality } from "./media-rtc.js";

export class VideoGrid {
  // panel: the [data-video-panel] element; t: its strings (the panel's video-i18n);
  // media: the object exposed as window.confsvc.media, filled with stats, sample() and
  // first-frame times for tests and bench/relay.py (its state is the page's).
  constructor(panel, t, media) {
    this.t = t;
    this.grid = panel.querySelector("[data-video-grid]");
    this.status = panel.querySelector("[data-video-status]");
    this.errorBox = panel.querySelector("[data-video-error]");
    this.media = Object.assign(media, { stats: {}, firstFrameMs: {}, firstFrameSinceNavigationMs: {} });
    this.tiles = {};
    this.floor = [];
    this.live = [];
    // False on a site page before it joins: live sites are live, but nothing comes in yet.
    this.receiving = true;
    // The original's level (0..1): low under an interpretation channel (channels.js).
    this.originalVolume = 1;
    this.prevStats = {};
    for (const tile of this.grid.querySelectorAll("[data-site]")) this._addTile(tile);
    // A click is the user gesture that lets blocked autoplay with sound go on.
    panel.addEventListener("click", () => this.unblock());
    this.layout();
  }

  _addTile(tile) {
    const site = tile.dataset.site;
    const video = tile.querySelector("video");
    // srcObject is set once the page has loaded: a video element holding a stream
    // that has no frames yet (a site not connected) would hold the load event forever.
    const stream = new MediaStream();
    this.tiles[site] = { tile, video, stream, quality: tile.querySelector("[data-quality]"), state: tile.querySelector("[data-tile-state]") };
    const started = performance.now();
    // Since this grid started / since the page's navigation started.
    const onFrame = () => {
      this.media.firstFrameMs[site] = Math.round(performance.now() - started);
      this.media.firstFrameSinceNavigationMs[site] = Math.round(performance.now());
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame);
    else video.addEventListener("loadeddata", onFrame, { once: true });
  }

  // The site ids that have a tile, in the page's order (what to subscribe to).
  get sites() {
    return Object.keys(this.tiles);
  }

  layout() {
    const t = this.t;
    for (const [site, x] of Object.entries(this.tiles)) {
      const onFloor = this.floor.includes(site);
      const live = this.live.includes(site);
      x.tile.classList.toggle("floor", onFloor);
      x.tile.classList.toggle("offline", !live);
      x.tile.style.order = onFloor ? 0 : 1;
      x.state.textContent = !live ? t.offline : !this.receiving ? t.live_join : onFloor ? t.on_floor : t.listening;
      x.video.muted = !onFloor || this.originalVolume === 0;  // floor audio only anyway
      x.video.volume = this.originalVolume;
    }
    this.grid.dataset.floorCount = String(this.floor.filter((s) => s in this.tiles).length);
  }

  setFloor(floor) {
    this.floor = floor || [];
    this.layout();
  }

  // The original (the floor's sites) at `volume` (0..1; 0 mutes it).
  setOriginalVolume(volume) {
    this.originalVolume = Math.max(0, Math.min(1, volume));
    this.layout();
  }

  setLive(sites) {
    this.live = sites || [];
    this.layout();
  }

  setReceiving(on) {
    this.receiving = on;
    if (!on) this._badges({});
    this.layout();
  }

  // One quality badge per tile; none while nothing is expected to come in.
  _badges(stats) {
    for (const [site, x] of Object.entries(this.tiles)) {
      const q = this.receiving ? quality(this.prevStats[site], stats[site]) : "";
      x.quality.dataset.quality = q;
      x.quality.title = q ? this.t[`quality_${q}`] || q : "";
      x.quality.textContent = q ? this.t[`quality_${q}`] || q : "";
    }
  }

  onTrack(site, kind, track) {
    const x = this.tiles[site];
    if (!x) return;
    for (const old of x.stream.getTracks().filter((tr) => tr.kind === kind)) x.stream.removeTrack(old);
    x.stream.addTrack(track);
    const play = () => {
      if (x.video.srcObject !== x.stream) x.video.srcObject = x.stream;
      x.video.play().catch(() => this.showError(this.t.click_to_play));  // autoplay with sound blocked
    };
    if (document.readyState === "complete") play();
    else window.addEventListener("load", play, { once: true });
  }

  // The connection is gone (the site left): drop the ended tracks, keep the tiles.
  clear() {
    for (const x of Object.values(this.tiles)) {
      for (const tr of x.stream.getTracks()) x.stream.removeTrack(tr);
      x.video.srcObject = null;
    }
  }

  setState(state, reason) {
    const t = this.t;
    this.status.textContent = t[state] || state;
    this.status.dataset.state = state;
    if (state === "failed") this.showError(`${t.connection_failed} ${reason || ""}`.trim());
    else if (state === "connected") this.showError("");
  }

  showError(text) {
    this.errorBox.textContent = text;
    this.errorBox.hidden = !text;
  }

  unblock() {
    for (const x of Object.values(this.tiles)) x.video.play().catch(() => {});
    if (this.errorBox.textContent === this.t.click_to_play) this.showError("");
  }

  // Sample the session's inbound stats every 2 s for the quality badges; expose sample().
  watch(session) {
    this.media.sample = () => session.sample();
    setInterval(async () => {
      const stats = await session.sample();
      this.media.stats = stats;
      this._badges(stats);
      this.prevStats = stats;
    }, 2000);
  }
}
