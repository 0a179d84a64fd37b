// A read-only view of the run of show: the participant room and the public live page.
import { boot, conn, lang, t } from "./page.js";
import { RosClock, fmtDuration, renderRosCommon } from "./ros.js";

const clock = new RosClock();
const $ = (sel) => document.querySelector(sel);

function render() {
  const v = clock.view;
  if (!v) return;
  renderRosCommon(v, { boot, lang, t });
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
