// Published written answers on the public live page, updated live from the page's
// SSE stream: live.js re-dispatches each message as a window "confsvc:live" event, so
// this panel needs no connection of its own (the server renders the first list).

function item(a) {
  const li = document.createElement("li");
  li.dataset.q = a.id;
  const q = document.createElement("p"); q.className = "written-q"; q.lang = a.language; q.textContent = a.text; li.append(q);
  if (a.translation) { const tr = document.createElement("p"); tr.className = "written-tr muted"; tr.textContent = a.translation; li.append(tr); }
  const ans = document.createElement("div"); ans.className = "written-a"; ans.textContent = a.answer || ""; li.append(ans);
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
