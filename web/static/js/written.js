// The moderator's written-answers dashboard: counts and filters, assignment (one, or
// every suggestion at once), replies with their originals, edit, publish, quarantine.
import { el } from "./dom.js";
import { conn, boot, t } from "./page.js";
import { url } from "./conn.js";

const $ = (sel) => document.querySelector(sel);
let view = null;
let filter = "all";
const drafts = new Map(); // question id -> text being edited (kept across re-renders)

function showError(err) {
  const box = $("[data-error]");
  box.textContent = err ? err.message || String(err) : "";
  box.hidden = !err;
}

async function run(name, args) {
  try { showError(null); return await conn.command(name, args); } catch (err) { showError(err); return null; }
}

function dueSeconds() {
  const input = $("[data-due]");
  if (!input.value) {
    const d = new Date(Date.now() + 7 * 86400e3);
    input.value = d.toISOString().slice(0, 10);
  }
  return new Date(input.value + "T18:00:00").getTime() / 1000;
}

function matches(q) {
  if (filter === "all") return true;
  if (filter === "overdue") return q.overdue;
  if (filter === "bounced") return !!q.bounced;
  return q.status === filter;
}

function expertName(id) {
  const e = (view.experts || []).find((x) => x.id === id);
  return e ? e.name : id || "";
}

function row(q) {
  const tr = el("tr", { "data-q": q.id, class: `st-${q.status}` });
  const text = el("td", { class: "qtext" }, el("div", {}, q.text));
  if (q.translation) text.append(el("div", { class: "muted" }, `${t.translation}: ${q.translation}`));
  const meta = [q.name, q.site && (boot.site_names[q.site]?.[boot.lang] || q.site), q.source === "pre_session" ? t.pre_session : null].filter(Boolean);
  text.append(el("div", { class: "muted small" }, meta.join(" · ")));
  const status = el("td", {}, el("span", { class: "badge", "data-status": q.status }, t[q.status] || q.status));
  if (q.overdue) status.append(" ", el("span", { class: "flag overdue" }, t.overdue));
  // The desk: whether the mail waits for the question's translation, and the answer's.
  if (q.translation_state) {
    status.append(" ", el("span", { class: `badge tr-state tr-${q.translation_state}`, "data-translation-state": q.translation_state }, t[`tr_${q.translation_state}`]));
  }
  if (q.waits_for) {
    const send = el("button", { class: "small", "data-send-untranslated": q.id }, t.send_untranslated);
    send.addEventListener("click", () => run("written.assign", { question: q.id, expert: q.expert, due: q.due, untranslated: true }));
    status.append(el("div", { class: "muted small" }, `${t.needs}: ${t[q.waits_for] || q.waits_for}`), send);
  }
  if (q.bounced) status.append(" ", el("span", { class: "flag bounced", title: q.bounced }, t.bounced));
  // expert: a choice with the suggestion selected, and Assign
  const pick = el("select", { "data-expert-select": q.id, ariaLabel: `${t.choose} (${q.id})` });
  pick.append(el("option", { value: "" }, t.choose));
  for (const e of view.experts || []) {
    const label = e.id === q.suggestion ? `${e.name} (${t.suggested})` : e.name;
    pick.append(el("option", { value: e.id, selected: e.id === (q.expert || q.suggestion) }, label));
  }
  const canAssign = ["open", "assigned", "sent"].includes(q.status);
  const assign = el("button", { class: "small", "data-assign": q.id, disabled: !canAssign }, t.assign);
  assign.addEventListener("click", () => {
    if (pick.value) run("written.assign", { question: q.id, expert: pick.value, due: dueSeconds() });
  });
  const expertCell = el("td", {}, canAssign ? pick : expertName(q.expert), canAssign ? assign : null);
  const due = el("td", {}, q.due ? new Date(q.due * 1000).toLocaleDateString(boot.lang) : "—");
  if (q.due && (q.status === "assigned" || q.status === "sent")) {
    const d = new Date(q.due * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    const change = el("input", { type: "date", "data-due-edit": q.id, ariaLabel: `${t.due_label} (${q.id})`, value: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` });
    change.addEventListener("change", () => {
      if (change.value) run("written.set_due", { question: q.id, due: new Date(change.value + "T18:00:00").getTime() / 1000 });
    });
    due.replaceChildren(change);
  }
  // answer: replies (originals), the editable answer, publish
  const ans = el("td", { class: "answer" });
  if (!q.replies.length) ans.append(el("span", { class: "muted" }, t.none));
  for (const r of q.replies) {
    const box = el("details", { class: "reply" }, el("summary", {}, `${t.original} · ${r.from} · ${new Date(r.at * 1000).toLocaleString(boot.lang)}`), el("pre", {}, r.text));
    if (r.attachments && r.attachments.length) {
      box.append(el("div", { class: "muted small" }, `${t.attachments}: ${r.attachments.map((a) => a.filename || a.content_type).join(", ")}`));
    }
    ans.append(box);
  }
  if (q.replies.length) {
    const latest = q.answer ?? q.replies[q.replies.length - 1].text;
    const area = el("textarea", { rows: 4, "data-answer-edit": q.id, value: drafts.get(q.id) ?? latest });
    area.addEventListener("input", () => drafts.set(q.id, area.value));
    const save = el("button", { class: "small", "data-save": q.id }, t.save);
    save.addEventListener("click", async () => { if (await run("written.review", { question: q.id, text: area.value })) drafts.delete(q.id); });
    const publish = el("button", { class: "small primary", "data-publish": q.id, disabled: q.status === "published" && !drafts.has(q.id) }, t.publish);
    publish.addEventListener("click", async () => {
      const args = { question: q.id };
      if (area.value !== (q.answer ?? q.replies[q.replies.length - 1].text) || q.status === "reviewed") args.text = area.value;
      if (await run("written.publish", args)) drafts.delete(q.id);
    });
    // Review shows both: the answer and its translations side by side, what is missing.
    const langs = Object.entries(q.answer_translations || {});
    if (langs.length || (q.answer_needs || []).length) {
      ans.append(el("div", { class: "answer-translations", "data-answer-translations": q.id },
        ...langs.map(([l, text]) => el("div", { class: "answer-tr", lang: l, "data-answer-translation": l },
          el("span", { class: "badge" }, t[l] || l), el("p", {}, text))),
        (q.answer_needs || []).length ? el("p", { class: "muted small" }, `${t.needs}: ${q.answer_needs.map((l) => t[l] || l).join(", ")}`) : null));
    }
    const buttons = el("div", { class: "buttons" }, save, publish);
    if ((q.answer_needs || []).includes(q.language) && q.status !== "published") {
      // An explicit choice: publish before the desk has translated it into the asker's language.
      const anyway = el("button", { class: "small", "data-publish-untranslated": q.id }, t.publish_untranslated);
      anyway.addEventListener("click", async () => {
        const args = { question: q.id, untranslated: true };
        if (area.value !== (q.answer ?? q.replies[q.replies.length - 1].text) || q.status === "reviewed") args.text = area.value;
        if (await run("written.publish", args)) drafts.delete(q.id);
      });
      buttons.append(anyway);
    }
    ans.append(area, buttons);
  }
  tr.append(el("td", { class: "qid" }, q.id), text, status, expertCell, due, ans);
  return tr;
}

function quarantineRow(m) {
  const pick = el("select", { ariaLabel: t.file_under });
  for (const q of view.questions) pick.append(el("option", { value: q.id, selected: q.id === m.question }, `${q.id}: ${q.text.slice(0, 40)}`));
  const file = el("button", { class: "small", "data-file": m.key }, t.file_under);
  file.addEventListener("click", () => run("written.file", { key: m.key, question: pick.value }));
  const action = m.assigned_to ? el("td", {}, `→ ${m.assigned_to}`) : el("td", {}, pick, file);
  return el("tr", { "data-mail": m.key }, el("td", {}, m.from), el("td", {}, m.subject), el("td", {}, m.reason), el("td", {}, el("pre", {}, m.text.slice(0, 2000))), action);
}

function render() {
  if (!view) return;
  const counts = view.counts || {};
  for (const node of document.querySelectorAll("[data-count]")) {
    const k = node.dataset.count;
    node.textContent = k === "all" ? counts.total ?? 0 : counts[k] ?? 0;
  }
  const body = $("[data-written-table] tbody");
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.answerEdit : null;
  body.replaceChildren(...view.questions.filter(matches).map(row));
  if (focused) body.querySelector(`[data-answer-edit="${focused}"]`)?.focus();
  $("[data-empty]").hidden = view.questions.length > 0;
  $("[data-quarantine-table] tbody").replaceChildren(...view.quarantine.map(quarantineRow));
  $("[data-experts]").replaceChildren(...view.experts.map((e) => el("li", {}, `${e.name} <${e.email}> · ${e.languages.join(", ")} · ${e.topics.join(", ")}`)));
  $("[data-accept-all]").disabled = !view.questions.some((q) => q.status === "open" && q.suggestion);
}

for (const btn of document.querySelectorAll("[data-filter]")) {
  btn.addEventListener("click", () => {
    filter = btn.dataset.filter;
    for (const b of document.querySelectorAll("[data-filter]")) b.classList.toggle("active", b === btn);
    render();
  });
}

$("[data-accept-all]").addEventListener("click", () => {
  const due = dueSeconds();
  const items = view.questions.filter((q) => q.status === "open" && q.suggestion).map((q) => ({ question: q.id, expert: q.suggestion, due }));
  if (items.length) run("written.assign_batch", { items });
});

$("[data-add-expert]").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const list = (s) => String(s || "").split(",").map((x) => x.trim()).filter(Boolean);
  const ok = await run("written.expert.add", { id: f.get("id"), name: f.get("name"), email: f.get("email"), languages: list(f.get("languages")), topics: list(f.get("topics")) });
  if (ok) ev.target.reset();
});

conn.on("status", ({ state }) => { const n = $("[data-conn]"); n.textContent = t[state] || state; n.dataset.state = state; });
conn.on("welcome", (msg) => { view = msg.views.written; render(); });
// Changes come one question at a time (plus counts, and the quarantine or the experts
// when those changed): merge them into the view taken from the welcome snapshot.
conn.on("written.changed", (msg) => {
  if (!view) return;
  for (const q of msg.questions || []) {
    const i = view.questions.findIndex((x) => x.id === q.id);
    if (i >= 0) view.questions[i] = q; else view.questions.push(q);
  }
  if (msg.removed) view.questions = view.questions.filter((q) => !msg.removed.includes(q.id));
  if (msg.counts) view.counts = msg.counts;
  if (msg.quarantine) view.quarantine = msg.quarantine;
  if (msg.experts) view.experts = msg.experts;
  render();
});
// This node's mail connections: a banner while the outbox is held (confsvc's own SMTP
// settings or server fail) or the IMAP mailbox cannot be read. Polled, since the state
// lives in the node's mail service, not in the conference's log.
let mail = {};
function showMail() {
  const when = (s) => (s ? new Date(s * 1000).toLocaleTimeString(boot.lang) : "");
  const smtp = $("[data-mail-smtp]");
  const held = mail.smtp && mail.smtp.state === "held";
  smtp.hidden = !held;
  if (held) smtp.textContent = `${t.mail_held} ${mail.smtp.error || ""}${mail.smtp.retry_at ? ` · ${t.next_try}: ${when(mail.smtp.retry_at)}` : ""}`;
  const imap = $("[data-mail-imap]");
  const down = mail.imap && mail.imap.state === "down";
  imap.hidden = !down;
  if (down) imap.textContent = `${t.imap_down} ${mail.imap.error || ""}`;
}
async function pollMail() {
  try {
    const res = await fetch(url(`/c/${boot.conference}/written/mail?t=${encodeURIComponent(boot.token)}`), { cache: "no-store" });
    if (res.ok) { mail = await res.json(); showMail(); }
  } catch (_err) { /* the connection banner says when the server is away */ }
}
pollMail();
setInterval(pollMail, 10_000);
window.confsvc.written = { get view() { return view; }, get mail() { return mail; } };
