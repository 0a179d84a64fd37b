// The host console's on-air panel: the question on air, from the page's connection,
// and a form for posts to the live text broadcast (sent over HTTP: a photo is too big
// for a WebSocket message).
import { errorText, url } from "./conn.js";
import { boot, conn, lang } from "./page.js";
import { jsonData, langName, showInReaderLanguage, siteName } from "./questions_common.js";

const t = jsonData("onair-i18n");
const panel = document.querySelector("[data-onair-panel]");

function render(q) {
  panel.classList.toggle("is-on-air", !!q);
  showInReaderLanguage(panel.querySelector("[data-onair-text]"), panel.querySelector("[data-onair-original]"), q, lang, t);
  const bits = [];
  if (q) {
    if (q.site) bits.push(siteName(boot, q.site, lang));
    bits.push(langName(t, q.language));
    bits.push(`${q.votes} ${t.votes}`);
    if (q.answering) bits.push(`${t.answering}: ${siteName(boot, q.answering, lang)}`);
  }
  panel.querySelector("[data-onair-meta]").textContent = bits.join(" · ");
  panel.dataset.q = q ? q.id : "";
}

conn.on("welcome", (msg) => { if (msg.views.questions) render(msg.views.questions.on_air); });
conn.on("q.live", (msg) => render(msg.on_air));

const form = panel.querySelector("[data-post-form]");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = form.querySelector("[data-post-error]");
  error.hidden = true;
  const body = new FormData(form);
  // The token goes in a header: the server authenticates before it reads the body.
  const headers = { Authorization: `Bearer ${boot.token}` };
  const resp = await fetch(url(`/c/${boot.conference}/posts`), { method: "POST", body, headers });
  if (resp.ok) {
    form.reset();
  } else {
    const data = await resp.json().catch(() => ({ message: resp.statusText }));
    error.textContent = errorText(data); // in the page's language
    error.hidden = false;
  }
});
