// The "continue on another device" panel of the participant room (_person_panel.html):
// the link that carries this browser's person (person.js) to another device, and what
// the page says when the server refused a person token (tampered, or another link's).
import { continueLink } from "./person.js";
import { conn } from "./page.js";

const $ = (sel) => document.querySelector(sel);

conn.on("welcome", (msg) => {
  const token = msg.you?.person_token;
  const panel = $("[data-person-panel]");
  if (!panel || !token) return;
  $("[data-person-link]").value = continueLink(token);
  $("[data-person-refused]").hidden = true;
  panel.hidden = false;
});

$("[data-person-copy]")?.addEventListener("click", async () => {
  const input = $("[data-person-link]");
  input.select();
  try { await navigator.clipboard.writeText(input.value); } catch { document.execCommand?.("copy"); }
  $("[data-person-copied]").hidden = false;
});

conn.on("error", (msg) => {
  if (msg.code !== "bad_person") return;
  const refused = $("[data-person-refused]");
  if (!refused) return;
  $("[data-person-error]").textContent = msg.message; // conn.js has put it in the page's language
  // The same page without the fragment: a new person (the href is set here, not in the
  // template, which has no address of its own for it).
  $("[data-person-again]").href = location.pathname + location.search;
  refused.hidden = false;
});
