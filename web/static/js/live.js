// The public live page: the server renders it; Server-Sent Events keep it live.
// No WebSocket here: every message addressed to everyone arrives on /live/events.
// Other features' scripts can listen too: window "confsvc:live" events carry each message.
import { bootData, i18nData, url } from "./conn.js";
import { RosClock, fmtDuration, renderRosCommon } from "./ros.js";
import { el, fmtTime, jsonData, langName, showInReaderLanguage, siteName } from "./questions_common.js";

const boot = bootData();
const t = i18nData();
const lang = boot.lang || document.documentElement.lang;
const experts = jsonData("q-experts");
const tz = Object.values(boot.site_timezones || {})[0];
const clock = new RosClock();
const $ = (sel) => document.querySelector(sel);
const state = { live: null, lastSeq: 0 };

function renderRos() {
  const v = clock.view;
  if (!v) return;
  renderRosCommon(v, { boot, lang, t });
  tick();
}

function tick() {
  if (clock.view) $("[data-ros-elapsed]").textContent = fmtDuration(clock.elapsed());
}

function answeredBy(q) {
  const by = q.answered_by || {};
  if (by.site) return `${t.answered_by} ${siteName(boot, by.site, lang)}`;
  if (by.expert) return `${t.answered_by} ${experts[by.expert] || by.expert}`;
  return t.answered;
}

function renderLive() {
  const live = state.live;
  if (!live) return;
  const box = $("[data-live-onair]");
  box.classList.toggle("is-on-air", !!live.on_air);
  box.replaceChildren(box.querySelector("h2"));
  if (live.on_air) {
    const q = live.on_air;
    const main = el("blockquote", { class: "q-text", "data-onair-text": true, dataset: { q: q.id } });
    const original = el("p", { class: "q-original muted", "data-onair-original": true });
    showInReaderLanguage(main, original, q, lang, t);
    box.append(
      main, original,
      el("p", { class: "muted", "data-onair-meta": true },
        [q.site ? `${siteName(boot, q.site, lang)} · ` : "", langName(t, q.language)].join("")),
    );
  } else {
    box.append(el("p", { class: "muted", "data-onair-text": true }, t.no_on_air));
  }
  const answered = $("[data-live-answered]");
  answered.replaceChildren(
    ...(live.answered.length
      ? live.answered.map((q) => el("li", { dataset: { q: q.id } },
          el("p", { class: "q-text" }, q.text),
          el("p", { class: "muted" }, [q.site ? `${siteName(boot, q.site, lang)} · ` : "", answeredBy(q)].join(""))))
      : [el("li", { class: "muted empty" }, t.no_answered)]),
  );
  const posts = $("[data-live-posts]");
  posts.replaceChildren(
    ...(live.posts.length
      ? live.posts.map((p) => el("li", { class: "post", dataset: { post: p.id } },
          el("time", { class: "muted" }, fmtTime(p.at, lang, tz)),
          el("p", { class: "post-text" }, p.text),
          p.photo ? el("img", { class: "post-photo", src: url(`/c/${boot.conference}/live/photos/${p.id}`), alt: t.photo, loading: "lazy" }) : null))
      : [el("li", { class: "muted empty" }, t.no_posts)]),
  );
}

function status(kind) {
  const node = $("[data-conn]");
  node.textContent = t[kind] || kind;
  node.dataset.state = kind;
}

let restarting = false;  // the server said it is restarting: say so until it is back

function onMessage(msg) {
  if (msg.type === "restarting") {
    restarting = true;
    status("restarting");
  } else if (msg.type === "welcome") {
    restarting = false;
    // Resumed (EventSource sent Last-Event-ID): no views, what was missed follows.
    const views = msg.views || {};
    if (views.ros) { clock.update(views.ros); renderRos(); }
    if (views.questions) { state.live = views.questions; renderLive(); }
    status("connected");
  } else if (msg.type === "ros") {
    clock.update(msg.ros); renderRos();
  } else if (msg.type === "q.live") {
    state.live = { ...state.live, on_air: msg.on_air, answered: msg.answered, posts: msg.posts };
    renderLive();
  } else if (msg.type === "post") {
    if (state.live && !state.live.posts.some((p) => p.id === msg.post.id)) {
      state.live.posts = [msg.post, ...state.live.posts];
      renderLive();
    }
  }
  if (msg.seq) state.lastSeq = Math.max(state.lastSeq, msg.seq);
  window.dispatchEvent(new CustomEvent("confsvc:live", { detail: msg }));
}

function connect() {
  const source = new EventSource(url(`/c/${encodeURIComponent(boot.conference)}/live/events`));
  status("connecting");
  source.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    onMessage(msg);
  };
  source.onerror = () => status(restarting ? "restarting" : "reconnecting");  // EventSource retries by itself
  window.confsvc = Object.assign(window.confsvc || {}, { live: state, source, clock });
}

connect();
setInterval(tick, 500);
