// A read-only view of the run of show: the participant room and the public live page.
import { pick } from "./conn.js";
import { boot, conn, lang, t } from "./page.js";
import { RosClock, fmtDuration, siteNames } from "./ros.js";

const clock = new RosClock();
const $ = (sel) => document.querySelector(sel);

function render() {
  const v = clock.view;
  if (!v) return;
  const cur = v.current != null ? v.items[v.current] : null;
  $("[data-ros-status]").textContent = t[v.status] || v.status;
  $("[data-ros-status]").dataset.status = v.status;
  $("[data-ros-title]").textContent = cur ? pick(cur.title, lang) : t.not_started;
  $("[data-ros-planned]").textContent = fmtDuration(v.current_planned_s || 0);
  $("[data-ros-floor]").textContent = siteNames(boot, v.floor, lang, t);
  for (const li of document.querySelectorAll("[data-ros-agenda] li")) {
    const i = v.items.findIndex((it) => it.id === li.dataset.item);
    li.classList.toggle("current", i === v.current);
    li.classList.toggle("done", i !== v.current && !!v.items[i].actual_end);
  }
  tick();
}

function tick() {
  if (clock.view) $("[data-ros-elapsed]").textContent = fmtDuration(clock.elapsed());
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
