// The moderator console: the live queue in tabs, filters, every action, shortcuts,
// history, posts, CSV import and exports. Text only, never HTML, from questions.
import { errorText, pick, url } from "./conn.js";
import { boot, conn, lang, t } from "./page.js";
import { el, fmtTime, jsonData, langName, showInReaderLanguage, siteName } from "./questions_common.js";

const experts = jsonData("q-experts");
const tz = Object.values(boot.site_timezones || {})[0];
const TABS = ["pending", "approved", "on_air", "answered", "deferred", "rejected"];
const $ = (sel) => document.querySelector(sel);
const state = {
  items: new Map(), onAir: null, posts: [], tab: "pending", selected: null,
  open: null, // {id, kind}: the inline form that is open
  history: new Set(),
};
window.confsvc = Object.assign(window.confsvc || {}, { moderator: state });

const KEYS = { a: "approve", r: "reject", o: "on_air", s: "answer", d: "defer", e: "edit",
  m: "merge", t: "tag", p: "pin", n: "note", u: "restore" };
const NEEDS_FORM = new Set(["reject", "edit", "merge", "tag", "note", "on_air", "answer", "translate"]);

function showError(msg) {
  const node = $("[data-mod-error]");
  node.textContent = msg || "";
  node.hidden = !msg;
}

async function run(name, args) {
  showError("");
  try {
    await conn.command(name, args);
    return true;
  } catch (err) {
    showError(err.message || String(err));
    return false;
  }
}

// -- the list ------------------------------------------------------------------

function visible() {
  const f = {
    site: $('[data-filter="site"]').value,
    language: $('[data-filter="language"]').value,
    tag: $('[data-filter="tag"]').value,
    search: $('[data-filter="search"]').value.trim().toLowerCase(),
  };
  const sort = $("[data-sort]").value;
  const n = (q) => Number(q.id.slice(2));
  return [...state.items.values()]
    .filter((q) => q.status === state.tab)
    .filter((q) => !f.site || (f.site === "-" ? !q.site : q.site === f.site))
    .filter((q) => !f.language || q.language === f.language)
    .filter((q) => !f.tag || q.tags.includes(f.tag))
    .filter((q) => !f.search || q.text.toLowerCase().includes(f.search) || (q.name || "").toLowerCase().includes(f.search))
    .sort((a, b) => (b.pinned - a.pinned)
      || (sort === "votes" ? b.votes - a.votes || n(a) - n(b) : sort === "time" ? n(b) - n(a) : n(a) - n(b)));
}

function metaLine(q) {
  const bits = [q.id, q.name || t.anonymous];
  if (q.site) bits.push(siteName(boot, q.site, lang));
  bits.push(t[q.source] || q.source, fmtTime(q.asked_at, lang, tz)); // the language is in glance()
  if (q.email) bits.push(q.email);
  if (q.askers > 1) bits.push(`${q.askers} ${t.askers}`);
  if (q.merged_from.length) bits.push(`${t.merged_from} ${q.merged_from.join(", ")}`);
  if (q.answered_by) {
    const by = q.answered_by.site ? siteName(boot, q.answered_by.site, lang) : experts[q.answered_by.expert] || q.answered_by.expert;
    if (by) bits.push(`${t.answered_by}: ${by}`);
  }
  return bits.join(" · ");
}

function actionButton(q, action) {
  const label = action === "pin" && q.pinned ? t.unpin : t[action];
  return el("button", { type: "button", class: `small${action === "approve" || action === "on_air" ? " primary" : ""}${action === "reject" ? " danger" : ""}`,
    dataset: { act: action }, onclick: () => act(q.id, action) }, label);
}

function renderForm(q) {
  const kind = state.open && state.open.id === q.id ? state.open.kind : null;
  if (!kind) return null;
  const cancel = el("button", { type: "button", class: "small", onclick: () => { state.open = null; render(); } }, t.cancel);
  const submit = el("button", { type: "submit", class: "small primary" }, t.save);
  let field;
  if (kind === "reject") field = el("input", { name: "v", maxlength: 500, placeholder: t.reason, "aria-label": t.reason });
  else if (kind === "edit") field = el("textarea", { name: "v", rows: 3, maxlength: 1000, "aria-label": t.edit }, q.text);
  else if (kind === "note") field = el("textarea", { name: "v", rows: 2, maxlength: 2000, placeholder: t.note_hint, "aria-label": t.note_hint });
  else if (kind === "tag") field = el("input", { name: "v", value: q.tags.join(", "), placeholder: t.tags_hint, "aria-label": t.tags_hint });
  else if (kind === "merge") {
    // The server's likely duplicates (views.py "similar") first, the most similar selected.
    const score = new Map((q.similar || []).map((s) => [s.id, s.score]));
    const targets = [...state.items.values()].filter((o) => o.id !== q.id && ["pending", "approved", "on_air"].includes(o.status))
      .sort((a, b) => (score.get(b.id) ?? -1) - (score.get(a.id) ?? -1));
    field = el("select", { name: "v", "aria-label": t.into },
      ...targets.map((o) => el("option", { value: o.id }, `${score.has(o.id) ? `${t.similar} · ` : ""}${o.id}: ${o.text.slice(0, 80)}`)));
  } else if (kind === "on_air") {
    field = el("select", { name: "v", "aria-label": t.answering_site }, el("option", { value: "" }, `${t.answering_site}: —`),
      ...Object.keys(boot.site_names || {}).map((s) => el("option", { value: s }, `${t.answering_site}: ${siteName(boot, s, lang)}`)));
  } else if (kind === "translate") {
    // Into one of the desk's languages; the text box starts from its current translation.
    const targets = (state.deskLanguages || []).filter((l) => l !== q.language);
    const first = (q.needs || [])[0] || targets[0];
    const select = el("select", { name: "l", "aria-label": t.into_language },
      ...targets.map((l) => el("option", { value: l, selected: l === first }, `${t.into_language}: ${langName(t, l)}`)));
    const area = el("textarea", { name: "v", rows: 3, maxlength: 2000, "aria-label": t.translation, lang: first }, (q.translations || {})[first] || "");
    select.addEventListener("change", () => { area.value = (q.translations || {})[select.value] || ""; area.lang = select.value; });
    field = el("span", { class: "translate-fields" }, select, area);
    field.language = select;
    field.text = area;
  } else if (kind === "answer") {
    field = el("select", { name: "v", "aria-label": t.answered_by }, el("option", { value: "" }, `${t.answered_by}: —`),
      ...Object.keys(boot.site_names || {}).map((s) => el("option", { value: `site:${s}` }, `${t.answered_by}: ${siteName(boot, s, lang)}`)),
      ...Object.entries(experts).map(([id, name]) => el("option", { value: `expert:${id}` }, `${t.answered_by}: ${name}`)));
  }
  const form = el("form", { class: "inline-form", dataset: { form: kind, key: `${q.id}:${kind}` } }, field, submit, cancel);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = kind === "translate" ? field.text.value : field.value;
    let ok = false;
    // A transition carries the status this form was opened on: if another moderator moved
    // the question meanwhile, the server refuses it as stale and says what changed.
    const seen = q.status;
    if (kind === "reject") ok = await run("q.reject", { id: q.id, reason: v.trim() || null, from_status: seen });
    else if (kind === "edit") ok = await run("q.edit", { id: q.id, text: v });
    else if (kind === "note") ok = await run("q.note", { id: q.id, text: v });
    else if (kind === "tag") ok = await run("q.tag", { id: q.id, tags: v.split(",").map((s) => s.trim()).filter(Boolean) });
    else if (kind === "merge") ok = await run("q.merge", { id: q.id, into: v, from_status: seen });
    else if (kind === "on_air") ok = await run("q.on_air", { id: q.id, site: v || null, from_status: seen });
    else if (kind === "translate") ok = await run("q.translate", { id: q.id, language: field.language.value, text: v });
    else if (kind === "answer") {
      const [what, id] = v ? v.split(":") : [null, null];
      ok = await run("q.answer", { id: q.id, site: what === "site" ? id : null, expert: what === "expert" ? id : null, from_status: seen });
    }
    if (ok) { state.open = null; render(); }
  });
  form.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { state.open = null; render(); }
    // Enter on a select saves too, so "o Enter" puts the question on air from the keyboard.
    else if (ev.key === "Enter" && ev.target.tagName === "SELECT") { ev.preventDefault(); form.requestSubmit(); }
  });
  return form;
}

function renderHistory(q) {
  if (!state.history.has(q.id)) return null;
  const edits = q.edits.length
    ? el("ol", { class: "edits" }, ...q.edits.map((e, i) => el("li", {},
        el("span", { class: "muted" }, `${i === 0 ? t.original : fmtTime(e.at, lang, tz)} · ${e.actor}: `), e.text)))
    : el("p", { class: "muted" }, `${t.original}: ${q.original}`);
  const notes = q.notes.length
    ? el("ul", { class: "notes" }, ...q.notes.map((n) => el("li", {}, el("span", { class: "muted" }, `${fmtTime(n.at, lang, tz)} · ${n.actor}: `), n.text)))
    : el("p", { class: "muted" }, t.none);
  const events = el("ol", { class: "events" }, ...q.history.map((h) => el("li", {},
    el("span", { class: "muted" }, `${fmtTime(h.at, lang, tz)} · ${h.actor} · `), t.event_names[h.type] || h.type,
    Object.keys(h.data).length && h.type !== "q.asked" ? ` ${JSON.stringify(h.data)}` : "")));
  const versions = Object.entries(q.versions || {}).flatMap(([l, vs]) => vs.map((v) => ({ ...v, language: l })));
  const translations = versions.length
    ? el("ol", { class: "versions", "data-versions": true }, ...versions.map((v) => el("li", { lang: v.language },
        el("span", { class: "muted" }, `${langName(t, v.language)} · ${fmtTime(v.at, lang, tz)} · ${v.actor}: `), v.text)))
    : el("p", { class: "muted" }, t.none);
  return el("div", { class: "history", "data-history": true },
    el("h4", {}, t.edits), edits, el("h4", {}, t.translations), translations,
    el("h4", {}, t.notes), notes, el("h4", {}, t.events), events);
}

// A question's age and language at a glance, beside its text. The age is counted on the
// server's clock (the run of show's "now" against this browser's, once a welcome comes),
// and its text refreshed every 20 s without redrawing the queue.
let serverOffset = 0;
const ago = new Intl.RelativeTimeFormat(lang, { numeric: "auto", style: "short" });
function age(ts) {
  const s = Math.max(0, Date.now() / 1000 + serverOffset - ts);
  if (s < 60) return t.just_now;
  return s < 3600 ? ago.format(-Math.floor(s / 60), "minute") : ago.format(-Math.floor(s / 3600), "hour");
}
function glance(q) {
  return el("p", { class: "glance" },
    el("span", { class: `badge lang lang-${q.language}` }, langName(t, q.language)),
    el("span", { class: "age", dataset: { age: String(q.asked_at) } }, age(q.asked_at)));
}
setInterval(() => { for (const n of document.querySelectorAll("[data-age]")) n.textContent = age(Number(n.dataset.age)); }, 20_000);

// The original and its translations side by side (the desk's work), and the languages
// still missing.
function renderTranslations(q) {
  const have = Object.entries(q.translations || {});
  const needs = q.needs || [];
  if (!have.length && !needs.length) return null;
  return el("div", { class: "q-side-by-side", "data-translations": true },
    el("div", { class: "q-version", lang: q.language !== "other" ? q.language : null },
      el("span", { class: "badge lang" }, `${t.original} · ${langName(t, q.language)}`), el("p", { class: "q-text" }, q.text)),
    ...have.map(([l, text]) => el("div", { class: "q-version", lang: l, dataset: { translation: l } },
      el("span", { class: "badge lang" }, langName(t, l)), el("p", { class: "q-text" }, text))),
    needs.length ? el("p", { class: "needs", "data-needs": needs.join(" ") }, `${t.needs}: ${needs.map((l) => langName(t, l)).join(", ")}`) : null);
}

function renderItem(q) {
  // The server sends what this moderator may do to the question now (its life table).
  const actions = (q.actions || []).map((a) => actionButton(q, a));
  actions.push(el("button", { type: "button", class: "small", dataset: { act: "history" }, "aria-expanded": state.history.has(q.id) ? "true" : "false",
    onclick: () => act(q.id, "history") }, t.history));
  // One stop in the Tab order for the whole queue (a roving tabindex): the selected
  // question and its buttons; j/k or the arrow keys move the selection, and the focus with it.
  const selected = q.id === state.selected;
  if (!selected) for (const b of actions) b.tabIndex = -1;
  return el("li", {
    class: `mod-item${selected ? " selected" : ""}${q.pinned ? " pinned" : ""}`,
    dataset: { q: q.id, status: q.status }, tabindex: selected ? "0" : "-1", "aria-current": selected ? "true" : "false",
    onclick: (ev) => { if (ev.target.closest("button,input,textarea,select,form")) return; state.selected = q.id; render(); },
  },
  el("div", { class: "q-votes", title: t.votes }, String(q.votes)),
  el("div", { class: "q-body" },
    glance(q),
    el("p", { class: "q-text" }, q.text),
    renderTranslations(q),
    el("p", { class: "muted meta" }, metaLine(q)),
    q.tags.length ? el("p", { class: "tags" }, ...q.tags.map((g) => el("span", { class: "tag" }, g))) : null,
    q.pinned ? el("span", { class: "badge pin" }, t.pinned) : null,
    q.status === "rejected" && q.reason ? el("p", { class: "q-reason" }, `${t.reason}: `, q.reason) : null,
    q.notes.length ? el("p", { class: "note-last" }, `${t.note}: `, q.notes[q.notes.length - 1].text) : null,
    el("div", { class: "buttons" }, ...actions),
    renderForm(q),
    renderHistory(q)));
}

function renderCounts() {
  const counts = Object.fromEntries(TABS.map((s) => [s, 0]));
  for (const q of state.items.values()) if (q.status in counts) counts[q.status]++;
  for (const s of TABS) document.querySelector(`[data-count="${s}"]`).textContent = String(counts[s]);
  for (const b of document.querySelectorAll("[data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === state.tab));
  const tagSel = $('[data-filter="tag"]');
  const tags = [...new Set([...state.items.values()].flatMap((q) => q.tags))].sort();
  const current = tagSel.value;
  tagSel.replaceChildren(tagSel.options[0], ...tags.map((g) => el("option", { value: g }, g)));
  tagSel.value = tags.includes(current) ? current : "";
}

function renderOnAir() {
  const q = state.onAir ? state.items.get(state.onAir) : null;
  $("[data-mod-onair]").classList.toggle("is-on-air", !!q);
  showInReaderLanguage($("[data-mod-onair-text]"), $("[data-mod-onair-original]"), q, lang, t);
  $("[data-mod-onair-meta]").textContent = q ? metaLine(q) : "";
}

function renderPosts() {
  $("[data-mod-posts]").replaceChildren(...state.posts.map((p) => el("li", { class: "post", dataset: { post: p.id } },
    el("time", { class: "muted" }, fmtTime(p.at, lang, tz)), " ", p.text,
    p.photo ? el("img", { class: "post-photo thumb", src: url(`/c/${boot.conference}/live/photos/${p.id}`), alt: "" }) : null)));
}

function render() {
  const items = visible();
  if (state.selected && !items.some((q) => q.id === state.selected)) state.selected = null;
  if (!state.selected && items.length) state.selected = items[0].id;
  const list = $("[data-mod-list]");
  // Keep what is being typed in an open form when a live update redraws the list.
  const before = list.querySelector(".inline-form");
  const kept = before ? { key: before.dataset.key, value: before.elements.v.value,
    language: before.elements.l?.value, focused: before.contains(document.activeElement) } : null;
  const focusInList = list.contains(document.activeElement) && !kept?.focused;
  list.replaceChildren(...(items.length ? items.map(renderItem) : [el("li", { class: "muted empty" }, t.empty)]));
  renderCounts();
  renderOnAir();
  const form = list.querySelector(".inline-form");
  if (form) {
    const same = kept && kept.key === form.dataset.key;
    if (same && kept.language && form.elements.l) form.elements.l.value = kept.language;
    if (same) form.elements.v.value = kept.value;
    if (!same || kept.focused) form.elements.v.focus();
  } else if (focusInList) {
    list.querySelector(".mod-item.selected")?.focus();
  }
  announce();
}

// The selected question, said by screen readers when the selection moves (a polite live
// region, visually hidden): its id, status and text.
let announced = null;
function announce() {
  const q = state.selected ? state.items.get(state.selected) : null;
  const key = q ? `${q.id}:${q.status}` : null;
  if (key === announced) return;
  announced = key;
  $("[data-mod-announce]").textContent = q ? `${q.id} · ${t[q.status] || q.status} · ${q.text}` : "";
}

// Live updates come in bursts (votes, imports): draw at most once per frame.
let drawing = false;
function schedule() {
  if (drawing) return;
  drawing = true;
  requestAnimationFrame(() => { drawing = false; render(); });
}

// -- actions -------------------------------------------------------------------

function act(id, action) {
  const q = state.items.get(id);
  if (!q) return;
  state.selected = id;
  if (action === "history") {
    if (state.history.has(id)) state.history.delete(id); else state.history.add(id);
    render();
    return;
  }
  if (!(q.actions || []).includes(action)) return;
  if (NEEDS_FORM.has(action)) { state.open = { id, kind: action }; render(); return; }
  const command = { approve: "q.approve", defer: "q.defer", off_air: "q.off_air", restore: "q.restore" }[action];
  if (command) run(command, { id, from_status: q.status });
  else if (action === "pin") run("q.pin", { id, pinned: !q.pinned });
}

function setTab(tab) {
  state.tab = tab;
  state.selected = null;
  state.open = null;
  render();
}

for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => setTab(b.dataset.tab));
for (const f of document.querySelectorAll("[data-filter], [data-sort]")) f.addEventListener("input", render);

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.target.closest && ev.target.closest("input, textarea, select, [contenteditable]")) return;
  const items = visible();
  const at = items.findIndex((q) => q.id === state.selected);
  if (ev.key === "j" || ev.key === "ArrowDown") { if (items.length) state.selected = items[Math.min(items.length - 1, at + 1)].id; render(); }
  else if (ev.key === "k" || ev.key === "ArrowUp") { if (items.length) state.selected = items[Math.max(0, at - 1)].id; render(); }
  else if (ev.key >= "1" && ev.key <= "6") setTab(TABS[Number(ev.key) - 1]);
  else if (ev.key === "/") $('[data-filter="search"]').focus();
  else if (ev.key === "?") { const d = $("[data-shortcuts]"); d.open = !d.open; }
  else if (ev.key === "h" && state.selected) act(state.selected, "history");
  else if (KEYS[ev.key] && state.selected) act(state.selected, KEYS[ev.key]);
  else return;
  ev.preventDefault();
  const sel = document.querySelector(".mod-item.selected");
  if (sel) sel.scrollIntoView({ block: "nearest" });
});

// -- forms over HTTP: posts with a photo, CSV import, exports ------------------

async function postForm(url, form) {
  // The token goes in a header: the server authenticates before it reads the body.
  const body = new FormData(form);
  const headers = { Authorization: `Bearer ${boot.token}` };
  const resp = await fetch(url, { method: "POST", body, headers });
  const data = await resp.json().catch(() => ({ message: resp.statusText }));
  if (!resp.ok) throw { ...data, message: errorText(data) }; // in the page's language
  return data;
}

$("[data-post-form]").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = $("[data-post-error]");
  err.hidden = true;
  try {
    await postForm(url(`/c/${boot.conference}/posts`), ev.target);
    ev.target.reset();
  } catch (e) {
    err.textContent = e.message || String(e);
    err.hidden = false;
  }
});

$("[data-import-form]").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const ok = $("[data-import-ok]");
  const problems = $("[data-import-problems]");
  ok.hidden = true;
  problems.hidden = true;
  try {
    const data = await postForm(url(`/c/${boot.conference}/questions/import`), ev.target);
    ok.textContent = `${t.imported} ${data.imported}`;
    ok.hidden = false;
    ev.target.reset();
  } catch (e) {
    problems.replaceChildren(...(e.problems || [e.message || String(e)]).map((p) => el("li", {}, p)));
    problems.hidden = false;
  }
});

for (const a of document.querySelectorAll("[data-export]")) {
  a.href = url(`/c/${boot.conference}/questions/export.${a.dataset.export}?token=${encodeURIComponent(boot.token)}`);
}

// -- live ----------------------------------------------------------------------

conn.on("status", ({ state: s }) => {
  const node = $("[data-conn]");
  node.textContent = t[s] || s;
  node.dataset.state = s;
});
conn.on("welcome", (msg) => {
  const v = msg.views.questions;
  if (v) {
    state.items = new Map((v.items || []).map((q) => [q.id, q]));
    state.onAir = v.on_air ? v.on_air.id : null;
    state.posts = v.posts || [];
    state.deskLanguages = v.desk_languages || [];
    renderPosts();
  }
  if (msg.views.ros) { serverOffset = msg.views.ros.now - Date.now() / 1000; ros(msg.views.ros); }
  render();
});
conn.on("q.item", (msg) => {
  state.items.set(msg.item.id, msg.item);
  if (msg.item.status === "on_air") state.onAir = msg.item.id;
  else if (state.onAir === msg.item.id) state.onAir = null;
  if (state.open && state.open.id === msg.item.id && !(msg.item.actions || []).includes(state.open.kind)) state.open = null;
  schedule();
});
conn.on("q.batch", (msg) => { for (const q of msg.items) state.items.set(q.id, q); schedule(); });
conn.on("post", (msg) => { state.posts = [msg.post, ...state.posts.filter((p) => p.id !== msg.post.id)]; renderPosts(); });
conn.on("ros", (msg) => ros(msg.ros));

function ros(v) {
  const cur = v.current != null ? v.items[v.current] : null;
  $("[data-ros-status]").textContent = t[v.status] || v.status;
  $("[data-ros-status]").dataset.status = v.status;
  $("[data-ros-title]").textContent = cur ? pick(cur.title, lang) : t.not_started;
}
