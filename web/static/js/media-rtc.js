// One WebRTC connection to the confsvc relay, signalled over the page's conference
// WebSocket (rtc.config, rtc.offer -> rtc.answer, rtc.state, rtc.leave; docs/media.md).
// Publishing (a site) sends one audio and one video track; subscribing receives an audio
// and a video slot per site. Reconnects by itself after a network drop.

import { errorText } from "./conn.js";

const CODECS = { audio: ["audio/opus"], video: ["video/VP8", "video/rtx"] };

function preferCodecs(transceiver, kind) {
  if (!transceiver.setCodecPreferences || !RTCRtpReceiver.getCapabilities) return;
  const caps = RTCRtpReceiver.getCapabilities(kind);
  if (!caps) return;
  const want = CODECS[kind].map((m) => m.toLowerCase());
  const codecs = caps.codecs.filter((c) => want.includes(c.mimeType.toLowerCase()));
  if (codecs.length) transceiver.setCodecPreferences(codecs);
}

// The video sender's bitrate cap in kbit/s, as the browser holds it (null: none).
function capOf(sender) {
  const enc = sender.getParameters ? sender.getParameters().encodings : null;
  return enc && enc.length && enc[0].maxBitrate ? enc[0].maxBitrate / 1000 : null;
}

// The relay does not trickle: the offer must carry the candidates. With STUN or TURN
// servers wait for gathering to complete (up to ms). Without, every candidate is a host
// candidate and Chromium gives them all at once, then says "complete" ~100 ms later:
// send once no new candidate came for quietMs (a host address missed here is still
// found by the relay as peer-reflexive when the browser's checks arrive from it).
function waitForIce(pc, ms, quietMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    let quiet = null;
    const done = () => {
      clearTimeout(timer);
      clearTimeout(quiet);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", candidate);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    const settle = () => { clearTimeout(quiet); quiet = setTimeout(done, quietMs); };
    const candidate = (ev) => { if (!ev.candidate) done(); else if (quietMs != null) settle(); };
    const timer = setTimeout(done, ms);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", candidate);
    if (quietMs != null && /\r\na=candidate:/.test(pc.localDescription.sdp)) settle();
  });
}

export class MediaSession {
  // opts: { conn, publish: bool, stream: () => MediaStream|null,
  //         subscribe: bool (every site) or (site ids) => the site ids to receive,
  //         maxKbps, onTrack(site, kind, track), onState(state, reason), onSites(live),
  //         channel: bool (one more audio track: the interpretation channel, switched by
  //         setChannel without renegotiating), onChannelTrack(track),
  //         config: {sites: [ids], ice_servers, max_video_kbps} from the page's boot data }
  // With opts.config the connection is prepared (offer, ICE gathering) while the page's
  // WebSocket is still opening, and the offer goes out as soon as it is welcome;
  // without (and on every later connection), it asks the server for rtc.config first.
  // Publishing and subscribing share one connection: the relay keeps one peer per
  // WebSocket, and one offer carries the sendonly and recvonly sections together.
  constructor(opts) {
    this.opts = opts;
    this.conn = opts.conn;
    this.pc = null;
    this.slots = {};
    this.state = "idle";
    this.wanted = false;
    this.retry = 1000;
    this.timer = null;
    this.firstFrameMs = {};
    this.startedAt = 0;
    this.waiters = new Map();
    this.unsent = false;  // an offer is being prepared and has not been sent yet
    this.onWelcome = null;  // resolves the wait of an offer ready before the socket
    this.conn.on("rtc.config", (m) => this._resolve("rtc.config", m));
    this.conn.on("rtc.answer", (m) => this._resolve("rtc.answer", m));
    this.conn.on("rtc.state", (m) => this._onServerState(m));
    this.conn.on("rtc.sites", (m) => this.opts.onSites && this.opts.onSites(m.live));
    this.channel = null;  // the interpretation channel chosen (null: the original only)
    this.channelMid = null;
    this.conn.on("error", (m) => {
      if (String(m.id || "").startsWith("rtc-")) this._reject(m);
    });
    // A new WebSocket means the server freed our peer: start again (the first one
    // at once: it is what a page waits for before its first frame).
    // An offer still being prepared goes out on the new socket instead.
    const onSocket = () => {
      if (this.unsent) {
        if (this.onWelcome) this.onWelcome();
        return;
      }
      if (this.wanted) this._restart(this.pc ? 200 : 0);
    };
    this.conn.on("welcome", onSocket);
    this.conn.on("resumed", onSocket);  // a resumed socket is a new socket all the same
  }

  _resolve(type, msg) {
    const w = this.waiters.get(type);
    if (w) { this.waiters.delete(type); w.resolve(msg); }
  }

  _reject(err) {
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }

  _wait(type, ms = 10000) {
    return new Promise((resolve, reject) => {
      this.waiters.set(type, { resolve, reject });
      setTimeout(() => reject({ code: "timeout", message: `no ${type} from the server` }), ms);
    });
  }

  _setState(state, reason) {
    this.state = state;
    if (this.opts.onState) this.opts.onState(state, reason || "");
  }

  async start() {
    this.wanted = true;
    if (!this.conn.connected && !this.opts.config) return;  // "welcome" will start us
    await this._connect();
  }

  // Resolves when the page's WebSocket is welcome (at once if it is already).
  _socket() {
    if (this.conn.connected) return Promise.resolve();
    return new Promise((resolve) => { this.onWelcome = () => { this.onWelcome = null; resolve(); }; });
  }

  // The page's boot data serves the first connection only: a later one (after a drop)
  // asks the server again, so TURN credentials minted for the page never go stale.
  async _config() {
    if (this.opts.config && !this.bootConfigUsed) {
      this.bootConfigUsed = true;
      return this.opts.config;
    }
    this.conn.send({ type: "rtc.config", id: "rtc-config" });
    return await this._wait("rtc.config");
  }

  async _connect() {
    this._close();
    this._setState("negotiating");
    this.bitrateCapKbps = null;
    this.startedAt = performance.now();
    this.unsent = true;
    let pc = null;
    try {
      const config = await this._config();
      const sites = config.sites.map((s) => (typeof s === "string" ? s : s.id));
      const iceServers = config.ice_servers || [];
      pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
      this.pc = pc;
      let videoSender = null;
      const cap = this.opts.maxKbps || config.max_video_kbps;
      if (this.opts.publish) {
        const stream = this.opts.stream();
        if (!stream) throw { code: "no_media", message: "no camera or microphone" };
        for (const kind of ["audio", "video"]) {
          const track = stream.getTracks().find((t) => t.kind === kind);
          if (!track) continue;
          const init = { direction: "sendonly", streams: [stream] };
          // Capped from the first packet on, not after the connection is up.
          if (kind === "video" && cap) init.sendEncodings = [{ maxBitrate: cap * 1000 }];
          const t = pc.addTransceiver(track, init);
          preferCodecs(t, kind);
          if (kind === "video") { videoSender = t.sender; this.bitrateCapKbps = capOf(t.sender); }
        }
      }
      const want = this.opts.subscribe;
      const subscribe = typeof want === "function" ? want(sites) : want ? sites : [];
      for (const site of subscribe) {
        for (const kind of ["audio", "video"]) preferCodecs(pc.addTransceiver(kind, { direction: "recvonly" }), kind);
      }
      // After the sites' sections: the server takes the first audio one past them.
      if (this.opts.channel) preferCodecs(pc.addTransceiver("audio", { direction: "recvonly" }), "audio");
      pc.ontrack = (ev) => {
        const slot = this.slots[ev.transceiver.mid];
        if (slot && slot.channel) {
          if (this.opts.onChannelTrack) this.opts.onChannelTrack(ev.track);
          return;
        }
        if (slot && this.opts.onTrack) this.opts.onTrack(slot.site, slot.kind, ev.track);
      };
      pc.onconnectionstatechange = () => this._onPcState();
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIce(pc, 3000, iceServers.length ? null : 20);
      await this._socket();
      if (pc !== this.pc) return;
      this.unsent = false;
      this.conn.send({ type: "rtc.offer", id: "rtc-offer", sdp: pc.localDescription.sdp, publish: !!this.opts.publish, subscribe, channel: !!this.opts.channel });
      const answer = await this._wait("rtc.answer");
      if (pc !== this.pc) return;
      this.slots = answer.slots || {};
      this.channelMid = Object.keys(this.slots).find((mid) => this.slots[mid].channel) || null;
      // A new connection's channel track starts on the original: choose again.
      if (this.channel) this.conn.send({ type: "rtc.channel", channel: this.channel });
      if (this.opts.onSites) this.opts.onSites(answer.live || []);
      // Before the answer is applied: ICE may connect (and say so) before the next line.
      this._setState("connecting");
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      if (videoSender && pc === this.pc && this.bitrateCapKbps !== cap) await this._capBitrate(videoSender, cap);
    } catch (err) {
      if (pc && pc !== this.pc) return;  // stopped or replaced meanwhile: not our failure
      this.unsent = false;
      this._setState("failed", err && err.message ? err.message : String(err));
      // A server that says when to come back ("unavailable", e.g. while the conference's
      // media home moves to another node) is asked again then, without growing the backoff.
      if (err && err.retry_after > 0) this._retryAfter(err.retry_after * 1000);
      else this._restart();
    }
  }

  _retryAfter(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { if (this.wanted && this.conn.connected) this._connect(); }, ms);
  }

  // For a browser that dropped sendEncodings: cap the negotiated sender.
  async _capBitrate(sender, cap) {
    if (!cap || !sender.getParameters) return;
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) params.encodings = [{}];
    params.encodings[0].maxBitrate = cap * 1000;
    try { await sender.setParameters(params); this.bitrateCapKbps = cap; } catch (err) { console.warn("maxBitrate", err); }
  }

  _onPcState() {
    const pc = this.pc;
    if (!pc) return;
    const s = pc.connectionState;
    if (s === "connected") { this.retry = 1000; this._setState("connected"); }
    else if (s === "failed") { this._setState("failed", "the media connection failed"); this._restart(); }
    else if (s === "disconnected") {
      this._setState("reconnecting", "the network dropped");
      // Give ICE a moment to recover by itself before starting over.
      setTimeout(() => { if (this.pc === pc && pc.connectionState !== "connected") this._restart(0); }, 3000);
    }
  }

  _onServerState(msg) {
    if (msg.state === "failed" || (msg.state === "closed" && msg.reason !== "left")) {
      // A reason with a key (the media home went away) reads in the page's language.
      const reason = msg.key ? errorText({ key: msg.key, params: msg.params, message: msg.reason }) : msg.reason;
      this._setState("failed", reason);
      this._restart();
    }
  }

  _restart(delay) {
    if (!this.wanted) return;
    clearTimeout(this.timer);
    const wait = delay != null ? delay : this.retry;
    this.retry = Math.min(this.retry * 2, 15000);
    this.timer = setTimeout(() => { if (this.wanted && this.conn.connected) this._connect(); }, wait);
  }

  _close() {
    this.unsent = false;
    this.onWelcome = null;
    if (this.pc) {
      this.pc.ontrack = null;
      this.pc.onconnectionstatechange = null;
      this.pc.close();
      this.pc = null;
    }
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.timer);
    this._close();
    this.conn.send({ type: "rtc.leave" });
    this._setState("idle");
  }

  // Hear interpretation channel `channel` (null: none) on the channel track: the server
  // switches its source, nothing is renegotiated. Kept across reconnections.
  setChannel(channel) {
    this.channel = channel || null;
    if (this.pc && this.channelMid) this.conn.send({ type: "rtc.channel", channel: this.channel });
  }

  // The audio tracks received, by role: inbound-rtp of the channel track and of each
  // floor site (ssrc, packetsReceived, audioLevel, totalAudioEnergy), for tests and pages.
  async audioStats() {
    const out = { channel: null, sites: {} };
    if (!this.pc) return out;
    const stats = await this.pc.getStats();
    stats.forEach((s) => {
      if (s.type !== "inbound-rtp" || s.kind !== "audio" || s.mid == null) return;
      const slot = this.slots[s.mid];
      if (!slot) return;
      const row = { mid: s.mid, ssrc: s.ssrc, packetsReceived: s.packetsReceived || 0, audioLevel: s.audioLevel || 0, totalAudioEnergy: s.totalAudioEnergy || 0 };
      if (slot.channel) out.channel = row; else out.sites[slot.site] = row;
    });
    return out;
  }

  // Per site: frames decoded, bytes received per kind, packets lost, and a quality word.
  async sample() {
    const out = {};
    if (!this.pc) return out;
    const byMid = this.slots;
    const stats = await this.pc.getStats();
    stats.forEach((s) => {
      if (s.type !== "inbound-rtp" || s.mid == null) return;
      const slot = byMid[s.mid];
      if (!slot || slot.channel) return;
      const o = out[slot.site] || (out[slot.site] = { framesDecoded: 0, videoBytes: 0, audioBytes: 0, packetsLost: 0, packetsReceived: 0, fps: 0 });
      if (slot.kind === "video") {
        o.framesDecoded = s.framesDecoded || 0;
        o.videoBytes = s.bytesReceived || 0;
        o.fps = s.framesPerSecond || 0;
      } else {
        o.audioBytes = s.bytesReceived || 0;
      }
      o.packetsLost += s.packetsLost || 0;
      o.packetsReceived += s.packetsReceived || 0;
    });
    return out;
  }
}

export function quality(prev, cur) {
  // "good" / "fair" / "poor" / "none", from loss since the last sample and frame rate.
  if (!cur || (!cur.videoBytes && !cur.audioBytes)) return "none";
  const lost = cur.packetsLost - (prev ? prev.packetsLost : 0);
  const got = cur.packetsReceived - (prev ? prev.packetsReceived : 0);
  const loss = got + lost > 0 ? lost / (got + lost) : 0;
  if (got === 0) return "none";
  if (loss > 0.05 || (cur.fps && cur.fps < 10)) return "poor";
  if (loss > 0.01 || (cur.fps && cur.fps < 20)) return "fair";
  return "good";
}
