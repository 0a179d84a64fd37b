// The page's one conference connection, shared by every module on the page
// (ES modules are singletons): import { conn, boot, t, lang } from "./page.js".
import { Conn, bootData, i18nData } from "./conn.js";

export const boot = bootData();
export const t = i18nData();
export const lang = boot.lang || document.documentElement.lang;
export const conn = new Conn(boot);

// Open once every module of the page has subscribed; late subscribers to "welcome"
// get the last one replayed by Conn.on.
setTimeout(() => conn.open(), 0);
window.confsvc = Object.assign(window.confsvc || {}, { conn });
