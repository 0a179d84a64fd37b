// The person this browser is on a shared audience link (docs/protocol.md, "People on a
// shared link"): the server signs a person token, sent back in welcome.you.person_token;
// the browser keeps it in localStorage, one per conference and link, and sends it in
// every hello. The "continue on another device" link carries it in its fragment
// (#person=…), which no server sees: this module takes it from there into the store
// and out of the address bar.

const PREFIX = "confsvc.person.";

function keyOf(boot) {
  return boot.invite ? `${PREFIX}${boot.conference}.${boot.invite}` : null;
}

function store() {
  try { return window.localStorage; } catch { return null; } // storage may be off
}

export function storedPerson(boot) {
  const key = keyOf(boot);
  return key ? store()?.getItem(key) ?? null : null;
}

export function keepPerson(boot, token) {
  const key = keyOf(boot);
  if (key && token) { try { store()?.setItem(key, token); } catch { /* full or off */ } }
}

export function forgetPerson(boot) {
  const key = keyOf(boot);
  if (key) store()?.removeItem(key);
}

// A person token in the page's fragment (the link from another device) becomes this
// browser's; the fragment is removed so that it is not bookmarked or shared by accident.
export function takePersonFromFragment(boot) {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("person");
  if (!token) return;
  keepPerson(boot, token);
  history.replaceState(null, "", location.pathname + location.search);
}

export function continueLink(token) {
  return `${location.origin}${location.pathname}${location.search}#person=${encodeURIComponent(token)}`;
}
