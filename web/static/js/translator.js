// The translation desk: the questions (and written answers) waiting for a translation in
// the languages this link works in, one box per missing language, every save a new
// version (q.translate). Text only, never HTML; the server decides who may translate what.
import { errorText } from "./conn.js";
import { boot, conn, lang, t } from "./page.js";
import { el, fmtTime, langName, showInReaderLanguage } from "./questions_common.js";

const $ = (sel) => document.querySelector(sel);
const state = { items: new Map(), answers: new Map(), languages: [], onAir: null, drafts: new Map() };
window.confsvc = Object.assign(window.confsvc || {}, { desk: state });

const reads = (l) => !(boot.languages || []).length || boot.languages.includes(l);

function showError(err) {
  const node = $("[data-error]");
  node.textContent = err ? errorText(err) : "";
  node.hidden = !err;
}

// One box per language this link may write that the text is not in; the missing ones
// first. `command` builds the command that saves a version.
function translationForms(subject, item, command) {
  const targets = state.languages.filter((l) => l !== item.language);
  targets.sort((a, b) => item.needs.includes(b) - item.needs.includes(a));
  return targets.map((l) => {
    const key = `${subject}:${l}`;
    const area = el("textarea", { rows: 3, maxlength: 2000, lang: l, id: `tr-${key}`, dataset: { translate: key } },
      state.drafts.get(key) ?? (item.translations[l] || ""));
    area.addEventListener("input", () => state.drafts.set(key, area.value));
    const status = el("span", { class: "muted", role: "status" }, item.needs.includes(l) ? t.needed : t.done);
    const save = el("button", { type: "submit", class: "small primary" }, t.save);
    const form = el("form", { class: "desk-form", dataset: { language: l, needed: item.needs.includes(l) ? "1" : "" } },
      el("label", { for: `tr-${key}` }, `${t.into}: ${langName(t, l)}`), area,
      el("div", { class: "buttons" }, save, status));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError(null);
      save.disabled = true;
      try {
        await conn.command(...command(l, area.value));
        state.drafts.delete(key);
        status.textContent = t.saved;
      } catch (err) {
        showError(err);
      } finally {
        save.disabled = false;
      }
    });
    const versions = (item.versions || {})[l] || [];
    if (versions.length > 1) {
      form.append(el("details", { class: "versions" }, el("summary", {}, `${t.versions} (${versions.length - 1})`),
        el("ol", {}, ...versions.slice(0, -1).reverse().map((v) => el("li", { lang: l },
          el("span", { class: "muted" }, `${fmtTime(v.at, lang)} · ${v.actor}: `), v.text)))));
    }
    return form;
  });
}

function itemBox(subject, item, heading, command) {
  return el("li", { class: "card desk-item", dataset: { q: subject, needs: item.needs.join(" ") } },
    el("p", { class: "glance" }, el("span", { class: "badge lang" }, `${t.original} · ${langName(t, item.language)}`),
      item.status ? el("span", { class: "muted" }, ` ${heading} · ${t[item.status] || item.status}`) : ` ${heading}`),
    el("blockquote", { class: "q-text", lang: item.language !== "other" ? item.language : null }, item.text),
    ...translationForms(subject, item, command));
}

function shown(item) {
  if (!reads(item.language)) return false;
  const mine = item.needs.filter((l) => state.languages.includes(l));
  return $("[data-desk-filter]").value === "all" || mine.length > 0;
}

function render() {
  const focused = document.activeElement?.dataset?.translate;
  const questions = [...state.items.values()].filter(shown);
  $("[data-desk-questions]").replaceChildren(...questions.map((q) =>
    itemBox(q.id, q, q.id, (l, text) => ["q.translate", { id: q.id, language: l, text }])));
  const answers = [...state.answers.values()].filter(shown);
  $("[data-desk-answers-card]").hidden = !answers.length;
  $("[data-desk-answers]").replaceChildren(...answers.map((a) =>
    itemBox(`answer:${a.question}`, a, `${t.answer_to} ${a.question}`,
      (l, text) => ["written.translate", { question: a.question, language: l, text }])));
  $("[data-desk-empty]").hidden = questions.length + answers.length > 0;
  if (focused) document.querySelector(`[data-translate="${CSS.escape(focused)}"]`)?.focus();
  showInReaderLanguage($("[data-desk-onair-text]"), $("[data-desk-onair-original]"), state.onAir, lang, t);
}

function setItems(list) { for (const q of list) state.items.set(q.id, q); }

conn.on("status", ({ state: s }) => { const n = $("[data-conn]"); n.textContent = t[s] || s; n.dataset.state = s; });
conn.on("welcome", (msg) => {
  const v = msg.views.questions || {};
  state.items = new Map();
  setItems(v.desk || []);
  state.languages = v.desk_languages || [];
  state.onAir = v.on_air || null;
  const w = msg.views.written || {};
  state.answers = new Map((w.desk || []).map((a) => [a.question, a]));
  render();
});
conn.on("q.desk", (msg) => { state.items.set(msg.item.id, msg.item); render(); });
conn.on("q.desk_batch", (msg) => { setItems(msg.items); render(); });
conn.on("q.live", (msg) => { state.onAir = msg.on_air; render(); });
conn.on("written.desk", (msg) => { state.answers.set(msg.item.question, msg.item); render(); });
$("[data-desk-filter]").addEventListener("change", render);
