// Published written answers on the public live page, updated live from the page's
// SSE stream: live.js re-dispatches each message as a window "confsvc:live" event, so
// this panel needs no connection of its own (the server renders the first list).

const lang = document.documentElement.lang;

function text(tag, cls, language, value) {
  const node = document.createElement(tag);
  node.className = cls;
  if (language && language !== "other") node.lang = language;
  node.textContent = value || "";
  return node;
}

// In the reader's language (the desk's translations), the original one click away.
function item(a) {
  const li = document.createElement("li");
  li.dataset.q = a.id;
  const qText = a.language !== lang ? (a.translations || {})[lang] : null;
  const aText = a.answer_language !== lang ? (a.answer_translations || {})[lang] : null;
  li.append(text("p", "written-q", qText ? lang : a.language, qText || a.text));
  li.append(text("div", "written-a", aText ? lang : a.answer_language, aText || a.answer));
  if (qText || aText) {
    const original = document.createElement("details");
    original.className = "written-original";
    original.dataset.original = "";
    const summary = document.createElement("summary");
    summary.textContent = document.querySelector("[data-written-answers]")?.dataset.originalLabel || "Original";
    original.append(summary);
    if (qText) original.append(text("p", "written-q", a.language, a.text));
    if (aText) original.append(text("div", "written-a", a.answer_language, a.answer));
    li.append(original);
  }
  if (a.expert) { const by = document.createElement("p"); by.className = "muted written-by"; by.textContent = "— " + a.expert; li.append(by); }
  return li;
}

function render(view) {
  const list = document.querySelector("[data-written-list]");
  if (!list || !view) return;
  list.replaceChildren(...(view.published || []).map(item));
  const empty = document.querySelector("[data-written-empty]");
  if (empty) empty.hidden = (view.published || []).length > 0;
}

window.addEventListener("confsvc:live", (ev) => {
  if (ev.detail && ev.detail.type === "written") render(ev.detail.written);
});
