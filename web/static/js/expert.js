// The expert's answer page: the questions assigned to them, one box each.
import { el } from "./dom.js";
import { conn, boot, t } from "./page.js";

const $ = (sel) => document.querySelector(sel);
const sent = new Set();

function card(q) {
  const box = el("section", { class: "card expert-q", "data-q": q.id });
  // In the expert's language first (the desk's translation), the original below it.
  box.append(el("h2", {}, q.id));
  if (q.translation) {
    box.append(el("p", { class: "written-q", "data-translation": "" }, q.translation),
      el("p", { lang: q.language, class: "muted", "data-original": "" }, `${t.original}: ${q.text}`));
  } else {
    box.append(el("p", { lang: q.language, class: "written-q" }, q.text));
  }
  if (q.due) box.append(el("p", { class: q.overdue ? "flag overdue" : "muted" }, `${t.due}: ${new Date(q.due * 1000).toLocaleString(boot.lang)}${q.overdue ? " · " + t.overdue : ""}`));
  if (sent.has(q.id) || q.answered) {
    box.append(el("p", { class: "ok", "data-thanks": q.id }, t.thanks));
    return box;
  }
  const area = el("textarea", { rows: 6, "data-answer": q.id, ariaLabel: `${t.answer_label} ${q.id}` });
  const send = el("button", { class: "primary", "data-send": q.id }, t.send);
  send.addEventListener("click", async () => {
    if (!area.value.trim()) return;
    send.disabled = true;
    try {
      await conn.command("written.answer", { question: q.id, text: area.value });
      sent.add(q.id);
      box.replaceWith(card({ ...q, answered: true }));
    } catch (err) {
      const e = $("[data-error]"); e.textContent = err.message; e.hidden = false; send.disabled = false;
    }
  });
  box.append(area, el("div", { class: "buttons" }, send));
  return box;
}

conn.on("status", ({ state }) => { const n = $("[data-conn]"); n.textContent = t[state] || state; n.dataset.state = state; });
conn.on("welcome", (msg) => {
  const qs = (msg.views.written && msg.views.written.questions) || [];
  $("[data-expert-questions]").replaceChildren(...qs.map(card));
  $("[data-empty]").hidden = qs.length > 0;
});
