// The page's one conference connection, shared by every module on the page
// (ES modules are singletons): import { conn, boot, t, lang } from "./page.js".
import { Conn, bootData, i18nData } from "./conn.js";

export const boot = bootData();
export const t = i18nData();
export const lang = boot.lang || document.documentElement.lang;
export const conn = new Conn(boot);

// Open once every module of the page has subscribed. Each <script type="module"> runs
// in its own task, so a timer set by the first can fire before the last has run (which
// would then miss "status" and the first live messages); all of them have run by
// DOMContentLoaded. (readyState is already "interactive" while they run, so ask the
// navigation entry whether DOMContentLoaded has come.) Late subscribers to "welcome"
// get the last one replayed by Conn.on.
const navigation = performance.getEntriesByType("navigation")[0];
if (document.readyState !== "complete" && !(navigation && navigation.domContentLoadedEventStart > 0)) {
  document.addEventListener("DOMContentLoaded", () => conn.open(), { once: true });
} else {
  setTimeout(() => conn.open(), 0);
}
window.confsvc = Object.assign(window.confsvc || {}, { conn });
