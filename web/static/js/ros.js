// Rendering the run-of-show view (the "ros" message) and ticking its timers locally.
import { pick } from "./conn.js";

export function fmtDuration(s) {
  const sign = s < 0 ? "-" : "";
  s = Math.abs(Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(sec).padStart(2, "0");
  return h ? `${sign}${h}:${mm}:${ss}` : `${sign}${mm}:${ss}`;
}

export function fmtClock(ts, lang, timeZone) {
  if (ts == null) return "—";
  const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (timeZone) opts.timeZone = timeZone;
  return new Intl.DateTimeFormat(lang, opts).format(new Date(ts * 1000));
}

// Keeps the latest view and the local clock offset, so timers tick between messages.
export class RosClock {
  constructor() { this.view = null; this.offset = 0; }
  update(view) { this.view = view; this.offset = view.now - Date.now() / 1000; }
  now() { return Date.now() / 1000 + this.offset; }
  elapsed() {
    const v = this.view;
    if (!v || v.current == null) return 0;
    if (v.status !== "running") return v.current_elapsed_s;
    return v.current_elapsed_s + (this.now() - v.now);
  }
  overrun() {
    const v = this.view;
    if (!v || v.current_planned_s == null || v.status === "ended") return 0;
    return Math.max(0, this.elapsed() - v.current_planned_s);
  }
  predictedEnd() {
    const v = this.view;
    if (!v) return null;
    if (v.status !== "running") return v.predicted_end;
    // While running, the end moves only when the current item overruns.
    const drift = Math.max(0, this.elapsed() - v.current_planned_s) - v.overrun_s;
    return v.predicted_end + Math.max(0, drift);
  }
}

export function siteNames(boot, sites, lang, t) {
  if (!sites || !sites.length) return t.nobody || "—";
  return sites.map((s) => pick(boot.site_names[s], lang) || s).join(", ");
}

// The parts of the run of show that every page shows the same way: status badge,
// current item, planned length, floor, and the server-rendered agenda list's classes.
// Elements a page does not have are skipped.
export function renderRosCommon(v, { boot, lang, t }) {
  const set = (sel, text) => { const el = document.querySelector(sel); if (el) el.textContent = text; return el; };
  const cur = v.current != null ? v.items[v.current] : null;
  const badge = set("[data-ros-status]", t[v.status] || v.status);
  if (badge) badge.dataset.status = v.status;
  set("[data-ros-title]", cur ? pick(cur.title, lang) : t.not_started);
  set("[data-ros-planned]", fmtDuration(v.current_planned_s || 0));
  set("[data-ros-floor]", siteNames(boot, v.floor, lang, t));
  for (const li of document.querySelectorAll("[data-ros-agenda] li")) {
    const i = v.items.findIndex((it) => it.id === li.dataset.item);
    li.classList.toggle("current", i === v.current);
    li.classList.toggle("done", i !== v.current && !!(v.items[i] && v.items[i].actual_end));
  }
}
