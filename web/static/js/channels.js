// The listener's interpretation channel (every page with audio): Original / 中文 / Polski /
// English, the original's level under a channel (a slider, low by default) or muted, and
// the channel's own <audio> element. The server switches the channel track's source
// (MediaSession.setChannel: rtc.channel), so nothing is renegotiated. Until the listener
// picks one, the page language's channel plays while somebody is live in it, else the
// original. Which channels are live comes from the core's interpretation view.
import { conn, lang } from "./page.js";

const DEFAULT_LEVEL = 0.2;

export class ChannelPicker {
  // el: the [data-channel-picker]; session: the page's MediaSession (opened with
  // channel: true); grid: its VideoGrid (plays the original; null: nothing to lower).
  constructor(el, session, grid) {
    this.el = el;
    this.session = session;
    this.grid = grid;
    this.t = JSON.parse(el.querySelector("[data-channel-i18n]").textContent);
    this.select = el.querySelector("[data-channel-select]");
    this.level = el.querySelector("[data-original-level]");
    this.mute = el.querySelector("[data-original-mute]");
    this.audio = el.querySelector("[data-channel-audio]");
    this.stateEl = el.querySelector("[data-channel-state]");
    this.names = {};
    for (const o of this.select.options) this.names[o.value] = o.textContent;
    this.live = [];
    this.chosen = null;  // the listener's own choice ("" is the original); null: the default
    this.current = undefined;
    this.level.value = String(Math.round(DEFAULT_LEVEL * 100));
    this.select.addEventListener("change", () => { this.chosen = this.select.value; this.apply(); });
    this.level.addEventListener("input", () => this.levels());
    this.mute.addEventListener("change", () => this.levels());
    conn.on("welcome", (m) => this.update(m.views.interpretation));
    conn.on("interpretation", (m) => this.update(m.interpretation));
    window.confsvc = Object.assign(window.confsvc || {}, { channels: this });
  }

  // The core's interpretation view: which channels somebody is live in.
  update(view) {
    if (!view) return;
    this.live = view.channels.filter((c) => c.live).map((c) => c.channel);
    for (const o of this.select.options) {
      if (!o.value) continue;
      o.textContent = this.live.includes(o.value) ? `${this.names[o.value]} · ${this.t.live}` : this.names[o.value];
    }
    this.apply();
  }

  // The page language's channel while somebody is live in it, else the original.
  defaultChannel() {
    return this.live.includes(lang) ? lang : null;
  }

  get channel() {
    return this.current || null;
  }

  apply() {
    const ch = this.chosen !== null ? this.chosen || null : this.defaultChannel();
    if (ch !== this.current) {
      this.current = ch;
      this.session.setChannel(ch);
    }
    this.select.value = ch || "";
    const silent = ch && !this.live.includes(ch);
    this.stateEl.textContent = !ch ? this.t.original : silent ? this.t.silent : this.t.hearing.replace("{channel}", this.names[ch]);
    this.levels();
  }

  // Under a channel the original plays at the slider's level (or muted); alone, in full.
  levels() {
    const level = this.mute.checked ? 0 : Number(this.level.value) / 100;
    if (this.grid) this.grid.setOriginalVolume(this.current ? level : 1);
  }

  onTrack(track) {
    this.audio.srcObject = new MediaStream([track]);
    this.audio.play().catch(() => {});  // blocked autoplay: the page's click unblocks it
  }

  // inbound-rtp of the channel track and of the floor's sites (ssrc, level, energy).
  audioStats() {
    return this.session.audioStats();
  }
}
