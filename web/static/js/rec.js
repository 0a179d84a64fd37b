// The REC notice of every conference page (base.html): shown while the conference is
// being recorded (docs/recording.md). It reads the "recording" view of the welcome and
// the "recording" messages, from the page's WebSocket (conn.js, "confsvc:message") or
// the public page's event stream (live.js, "confsvc:live"); it opens no connection.
const node = document.getElementById("rec-notice");

function show(view) {
  if (!node || !view) return;
  const on = view.status === "recording" || view.status === "paused";
  node.hidden = !on;
  node.dataset.state = view.status;
  node.textContent = view.status === "paused" ? node.dataset.paused : node.dataset.rec;
}

function onMessage(msg) {
  if (!msg) return;
  if (msg.type === "welcome" && msg.views) show(msg.views.recording);
  else if (msg.type === "recording") show(msg.recording);
}

window.addEventListener("confsvc:message", (ev) => onMessage(ev.detail));
window.addEventListener("confsvc:live", (ev) => onMessage(ev.detail));
