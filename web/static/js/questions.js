// The room page's question panel: ask, vote, see your own questions' status and the
// question on air. Uses the page's one connection (page.js); text only, never HTML.
import { boot, conn, lang } from "./page.js";
import { el, guessLanguage, jsonData, langName, showInReaderLanguage, siteName } from "./questions_common.js";

const t = jsonData("q-i18n");
const $ = (sel) => document.querySelector(sel);
const state = { items: new Map(), mine: new Map(), voted: new Set(), onAir: null, canAsk: false };
window.confsvc = Object.assign(window.confsvc || {}, { questions: state });

function meta(q) {
  const bits = [];
  if (q.name) bits.push(q.name);
  if (q.site) bits.push(siteName(boot, q.site, lang));
  bits.push(langName(t, q.language));
  return bits.join(" · ");
}

function renderOnAir() {
  const box = $("[data-q-onair]");
  if (!box) return;
  const q = state.onAir;
  box.hidden = !q;
  if (!q) return;
  showInReaderLanguage(box.querySelector("[data-q-onair-text]"), box.querySelector("[data-q-onair-original]"), q, lang, t);
  // Which site answers: the on-air box is where the audience looks for it.
  const answering = q.answering ? ` · ${t.answering}: ${siteName(boot, q.answering, lang)}` : "";
  box.querySelector("[data-q-onair-meta]").textContent = meta(q) + answering;
  box.dataset.answering = q.answering || "";
}

function renderList() {
  const list = $("[data-q-list]");
  const sort = $("[data-q-sort]").value;
  const items = [...state.items.values()].filter((q) => q.status === "approved" || q.status === "on_air");
  items.sort((a, b) => (b.status === "on_air") - (a.status === "on_air")
    || (b.pinned - a.pinned)
    || (sort === "votes" ? b.votes - a.votes : 0)
    || Number(b.id.slice(2)) - Number(a.id.slice(2)));
  if (!items.length) {
    list.replaceChildren(el("li", { class: "muted empty" }, t.empty_list));
    return;
  }
  list.replaceChildren(...items.map((q) => {
    const mine = state.mine.has(q.id);
    const voted = state.voted.has(q.id);
    const button = state.canAsk && !mine
      ? el("button", { class: `small vote${voted ? " voted" : ""}`, type: "button", disabled: voted, "aria-pressed": voted ? "true" : "false", onclick: () => vote(q.id) },
          voted ? t.voted : t.vote)
      : null;
    return el("li", { class: `q-item${q.status === "on_air" ? " q-on-air" : ""}${q.pinned ? " pinned" : ""}`, dataset: { q: q.id, status: q.status } },
      el("div", { class: "q-votes", title: t.votes }, String(q.votes)),
      el("div", { class: "q-body" },
        el("p", { class: "q-text" }, q.text),
        el("p", { class: "muted" }, [meta(q), q.status === "on_air" ? t.on_air : "", mine ? t.yours : "", q.pinned ? t.pinned : ""].filter(Boolean).join(" · "))),
      button);
  }));
}

function renderMine() {
  const list = $("[data-q-mine]");
  if (!list) return;
  const items = [...state.mine.values()].sort((a, b) => Number(b.id.slice(2)) - Number(a.id.slice(2)));
  if (!items.length) {
    list.replaceChildren(el("li", { class: "muted empty" }, t.empty_mine));
    return;
  }
  list.replaceChildren(...items.map((q) => el("li", { class: "q-item", dataset: { q: q.id, status: q.status } },
    el("div", { class: "q-body" },
      el("p", { class: "q-text" }, q.text),
      el("p", {},
        el("span", { class: `q-status status-${q.status}`, "data-q-status": true }, t[q.status] || q.status),
        q.status === "rejected" && q.reason ? el("span", { class: "q-reason" }, ` ${t.reason}: `, q.reason) : null,
        el("span", { class: "muted" }, ` · ${q.votes} ${t.votes}`))))));
}

function render() { renderOnAir(); renderList(); renderMine(); }

// Votes come in bursts: redraw the lists at most once per frame.
let drawing = false;
function schedule() {
  if (drawing) return;
  drawing = true;
  requestAnimationFrame(() => { drawing = false; renderList(); renderMine(); });
}

function showError(msg) {
  const node = $("[data-q-error]");
  if (!node) return;
  node.textContent = msg || "";
  node.hidden = !msg;
}

async function vote(id) {
  showError("");
  try {
    await conn.command("q.vote", { id });
  } catch (err) {
    showError(err.message || String(err));
  }
}

const form = $("[data-q-form]");
if (form) {
  const text = $("[data-q-text]");
  const language = $("[data-q-language]");
  let languageTouched = false;
  language.addEventListener("change", () => { languageTouched = true; });
  text.addEventListener("input", () => {
    $("[data-q-count]").textContent = `${text.value.length} / 1000`;
    if (!languageTouched && text.value.trim()) language.value = guessLanguage(text.value);
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("");
    $("[data-q-ok]").hidden = true;
    const args = { text: text.value, language: language.value };
    const name = $("[data-q-name]").value.trim();
    if (name) args.name = name;
    const site = $("[data-q-site]");
    if (site && site.value) args.site = site.value;
    $("[data-q-send]").disabled = true;
    try {
      await conn.command("q.ask", args);
      text.value = "";
      languageTouched = false;
      language.value = language.querySelector("option[selected]")?.value || language.value;  // the page's
      $("[data-q-count]").textContent = "0 / 1000";
      $("[data-q-ok]").textContent = t.sent;
      $("[data-q-ok]").hidden = false;
    } catch (err) {
      showError(err.message || String(err));
    } finally {
      $("[data-q-send]").disabled = false;
    }
  });
}
$("[data-q-sort]").addEventListener("change", renderList);

conn.on("welcome", (msg) => {
  const v = msg.views.questions;
  if (!v) return;
  state.items = new Map((v.items || []).map((q) => [q.id, q]));
  state.mine = new Map((v.mine || []).map((q) => [q.id, q]));
  state.voted = new Set(v.voted || []);
  state.onAir = v.on_air;
  state.canAsk = !!v.can_ask;
  render();
});
conn.on("q.shown", (msg) => { state.items.set(msg.item.id, msg.item); schedule(); });
conn.on("q.hidden", (msg) => { state.items.delete(msg.id); schedule(); });
conn.on("q.mine", (msg) => { state.mine.set(msg.item.id, msg.item); schedule(); });
conn.on("q.voted", (msg) => { state.voted.add(msg.id); schedule(); });
conn.on("q.live", (msg) => { state.onAir = msg.on_air; renderOnAir(); });
conn.on("error", (msg) => { if (msg.id == null && msg.code === "rate_limited") showError(msg.message); });
