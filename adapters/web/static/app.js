// The web chat page. Everything shown is set with textContent: user and bot text is never parsed as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const list = $("messages"), input = $("input"), sendButton = $("send"), statusEl = $("status");
  const typingEl = $("typing"), typingLabel = $("typing-label"), form = $("composer");
  const KEEP = 200;            // transcript entries kept in localStorage
  const store = window.localStorage;

  function randomId(bytes) {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  let session = store.getItem("webchat.session");
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(session || "")) {
    session = randomId(16);
    store.setItem("webchat.session", session);
  }

  // ---- transcript (survives reloads; the bot's memory lives on the server) ----
  const transcriptKey = () => "webchat.transcript." + session;
  function loadTranscript() {
    try { return JSON.parse(store.getItem(transcriptKey()) || "[]"); } catch (e) { return []; }
  }
  let transcript = loadTranscript();
  function remember(entry) {
    const i = transcript.findIndex((t) => t.key === entry.key);
    if (i >= 0) transcript[i] = entry; else transcript.push(entry);
    if (transcript.length > KEEP) transcript = transcript.slice(-KEEP);
    try { store.setItem(transcriptKey(), JSON.stringify(transcript)); } catch (e) { /* storage full: keep going */ }
  }

  // ---- rendering ----
  const bubbles = new Map();   // key -> element ("u:"+message id, "r:"+reply id)
  function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }
  function scrollDown(force) { if (force || nearBottom()) list.scrollTop = list.scrollHeight; }
  function bubble(key, cls) {
    let el = bubbles.get(key);
    if (!el) {
      const stick = nearBottom();
      el = document.createElement("div");
      el.className = "msg " + cls;
      const body = document.createElement("span");
      body.className = "body";
      el.appendChild(body);
      list.appendChild(el);
      if (key) bubbles.set(key, el);
      scrollDown(stick);
    }
    return el;
  }
  function setText(el, text) {
    const stick = nearBottom();
    el.querySelector(".body").textContent = text;
    scrollDown(stick);
  }
  function showError(text) {
    const el = bubble(null, "error");
    setText(el, text);
  }
  for (const t of transcript) {
    const el = bubble(t.key, t.cls);
    setText(el, t.text);
  }
  scrollDown(true);

  // ---- typing indicator ----
  let typingTimer = 0;
  function typing(on, label) {
    clearTimeout(typingTimer);
    typingEl.hidden = !on;
    if (on) {
      typingLabel.textContent = label || "typing";
      typingTimer = setTimeout(() => { typingEl.hidden = true; }, 12000);
      scrollDown(false);
    }
  }

  // ---- connection with reconnect and backoff ----
  let ws = null, attempt = 0, retryTimer = 0;
  const outbox = new Map();    // message id -> text, until the server acks it
  function setStatus(state, text) { statusEl.dataset.state = state; statusEl.textContent = text; }
  function wsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + "/ws?session=" + encodeURIComponent(session);
  }
  function connect() {
    clearTimeout(retryTimer);
    setStatus("connecting", "connecting…");
    const sock = new WebSocket(wsUrl());
    ws = sock;
    sock.onopen = () => {
      attempt = 0;
      setStatus("online", "online");
      for (const [id, text] of outbox) sock.send(JSON.stringify({ type: "message", id, text }));
    };
    sock.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") handle(frame);
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      typing(false);
      const delay = Math.min(15000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
      attempt += 1;
      setStatus("offline", "offline, reconnecting in " + Math.ceil(delay / 1000) + " s");
      retryTimer = setTimeout(connect, delay);
    };
  }
  window.addEventListener("online", () => { if (!ws) connect(); });

  function handle(f) {
    switch (f.type) {
      case "welcome":
        if (f.session !== session) {           // the server gave us a fresh session
          session = f.session;
          store.setItem("webchat.session", session);
        }
        break;
      case "ack": {
        outbox.delete(f.id);
        const el = bubbles.get("u:" + f.id);
        if (el) el.classList.remove("pending");
        break;
      }
      case "echo": {                            // sent from another tab of this session
        const el = bubble("u:" + f.id, "user");
        setText(el, f.text);
        remember({ key: "u:" + f.id, cls: "user", text: f.text });
        break;
      }
      case "typing":
        typing(true, f.action === "record_voice" ? "recording voice" : "typing");
        break;
      case "delta": {
        typing(false);
        const el = bubble("r:" + f.reply_id, "bot streaming");
        const seen = Number(el.dataset.seq || -1);
        if (f.seq > seen) {                     // ignore replays of pieces already shown
          el.dataset.seq = String(f.seq);
          setText(el, el.querySelector(".body").textContent + f.text);
        }
        break;
      }
      case "done": {
        typing(false);
        const cls = f.notice ? "bot notice" : "bot";
        const el = bubble("r:" + f.reply_id, cls);
        el.className = "msg " + cls;
        setText(el, f.text);
        remember({ key: "r:" + f.reply_id, cls, text: f.text });
        break;
      }
      case "voice": {
        typing(false);
        const el = bubble("r:" + f.reply_id, "bot");
        el.classList.add("voice-reply");
        const audio = document.createElement("audio");
        audio.controls = true;
        audio.preload = "auto";
        audio.src = f.url;
        audio.dataset.mime = f.mime_type;
        el.appendChild(audio);
        scrollDown(true);
        break;
      }
      case "error":
        showError(f.message);
        break;
      default:
        for (const hook of frameHooks) hook(f);   // e.g. "heard" for mic.js
        break;
    }
  }

  // ---- composing ----
  function resize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, window.innerHeight * 0.4) + "px";
  }
  function refresh() { sendButton.disabled = input.value.trim() === ""; resize(); }
  function send() {
    const text = input.value;
    if (text.trim() === "") return;
    const id = randomId(12);
    const el = bubble("u:" + id, "user pending");
    setText(el, text);
    scrollDown(true);
    remember({ key: "u:" + id, cls: "user", text });
    outbox.set(id, text);
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "message", id, text }));
    input.value = "";
    refresh();
    input.focus();
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  input.addEventListener("input", refresh);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });

  const frameHooks = [];
  window.webchat = {
    get session() { return session; },
    onFrame(hook) { frameHooks.push(hook); },                 // frames this file does not handle
    userBubble(id, text, cls) {                               // a user bubble (mic.js: recordings)
      const el = bubble("u:" + id, cls || "user");
      el.className = "msg " + (cls || "user");
      setText(el, text);
      scrollDown(true);
      if (!/pending/.test(cls || "")) remember({ key: "u:" + id, cls: "user", text });
      return el;
    },
    randomId,
  };
  connect();
  input.focus();
})();
