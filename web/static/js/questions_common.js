// Shared by the question pages: safe DOM building (text only, never HTML), names.
import { pick } from "./conn.js";

// el("li", {class: "x", dataset: {q: "q-1"}}, "text", child): children are text or nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function jsonData(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : {};
}

export function siteName(boot, site, lang) {
  if (!site) return "";
  return pick((boot.site_names || {})[site], lang) || site;
}

export function langName(t, code) {
  return t[code] || t.other || code;
}

// The same guess as confsvc.core.questions.guess_language, so the form can preset it.
const POLISH_WORDS = new Set(["jak", "czy", "nie", "się", "jest", "są", "na", "dla", "co", "przez",
  "jakie", "ile", "w", "z", "do", "i", "oraz", "kiedy", "gdzie", "dlaczego", "pan", "pani", "szpital"]);
export function guessLanguage(text) {
  let cjk = 0, letters = 0;
  for (const ch of text) {
    if (/[\u3400-\u9fff\uf900-\ufaff]/.test(ch)) cjk++;
    if (/\p{L}/u.test(ch)) letters++;
  }
  if (cjk && cjk * 5 >= letters) return "zh";
  if (/[ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]/.test(text)) return "pl";
  const words = text.toLowerCase().match(/[a-ząćęłńóśźż]+/g) || [];
  const hits = words.filter((w) => POLISH_WORDS.has(w)).length;
  if (words.length && hits >= Math.max(2, Math.floor(words.length / 4))) return "pl";
  if (/[a-z]/i.test(text)) return "en";
  return "other";
}

export function fmtTime(ts, lang, timeZone) {
  if (ts == null) return "";
  const opts = { hour: "2-digit", minute: "2-digit" };
  if (timeZone) opts.timeZone = timeZone;
  return new Intl.DateTimeFormat(lang, opts).format(new Date(ts * 1000));
}

// A question in the reader's language (the desk's translation), with the original beside
// it (issue 15): fills `main` (the text shown) and `original` (a line with the original,
// hidden when the reader reads the original already). t.original and the language names
// come from the page's catalog.
export function showInReaderLanguage(main, original, q, lang, t) {
  const translated = q && q.language !== lang ? (q.translations || {})[lang] : null;
  main.textContent = q ? translated || q.text : t.none || t.no_on_air || "";
  main.lang = q ? (translated ? lang : q.language !== "other" ? q.language : "") : "";
  if (!original) return;
  original.hidden = !translated;
  original.textContent = translated ? `${t.original} (${langName(t, q.language)}): ${q.text}` : "";
  original.lang = translated ? (q.language !== "other" ? q.language : "") : "";
}
