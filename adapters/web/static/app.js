// The web chat page. User text is set with textContent; bot text goes through the safe Markdown renderer
// (markdown.js), which builds DOM nodes and never parses HTML. Voice bubbles come from voice.js.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const list = $("messages"), input = $("input"), sendButton = $("send"), statusEl = $("status");
  const typingEl = $("typing"), typingLabel = $("typing-label"), form = $("composer"), intro = $("intro");
  const announcer = $("announce"), autoplayButton = $("autoplay"), newChatButton = $("new-chat");
  const KEEP = 200;            // transcript entries kept in localStorage
  const store = window.localStorage;
  const markdown = window.webchatMarkdown, voices = window.webchatVoice;
  const botName = $("title").textContent;

  const avatar = $("avatar");
  avatar.style.setProperty("--hue", avatar.dataset.hue || "210");

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
  function save() {
    try { store.setItem(transcriptKey(), JSON.stringify(transcript)); } catch (e) { /* storage full: keep going */ }
  }
  function entry(key) { return transcript.find((t) => t.key === key); }
  function remember(item) {
    const i = transcript.findIndex((t) => t.key === item.key);
    if (i >= 0) transcript[i] = Object.assign(transcript[i], item); else transcript.push(item);
    if (transcript.length > KEEP) transcript = transcript.slice(-KEEP);
    save();
  }
  function forget(key) {
    transcript = transcript.filter((t) => t.key !== key);
    save();
  }

  // ---- rendering ----
  const bubbles = new Map();   // key -> element ("u:"+message id, "r:"+reply id)
  function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }
  function scrollDown(force) { if (force || nearBottom()) list.scrollTop = list.scrollHeight; }
  function showIntro() { intro.hidden = list.querySelector(".msg") !== null; }
  function stamp(el, at) {
    const when = new Date(at || Date.now());
    el.dataset.time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    el.title = when.toLocaleString();
  }
  function bubble(key, cls, at) {
    let el = bubbles.get(key);
    if (!el) {
      const stick = nearBottom();
      el = document.createElement("div");
      el.className = "msg " + cls;
      const body = document.createElement("div");
      body.className = "body";
      el.appendChild(body);
      stamp(el, at);
      list.appendChild(el);
      if (key) bubbles.set(key, el);
      showIntro();
      scrollDown(stick);
    }
    return el;
  }
  function setText(el, text, rich) {
    const stick = nearBottom();
    const body = el.querySelector(".body");
    if (rich) markdown.render(text, body); else body.textContent = text;
    scrollDown(stick);
  }
  function note(el, cls, text) {
    let n = el.querySelector("." + cls);
    if (!n) {
      n = document.createElement("div");
      n.className = "note " + cls;
      el.appendChild(n);
    }
    n.textContent = text;
  }
  function announce(text) {
    announcer.textContent = "";
    setTimeout(() => { announcer.textContent = text; }, 30);
  }
  function showError(text) {
    const el = bubble(null, "error");
    setText(el, text, false);
    announce(text);
  }
  let autoplay = store.getItem("webchat.autoplay") === "1";
  function showAutoplay() { autoplayButton.setAttribute("aria-pressed", autoplay ? "true" : "false"); }
  autoplayButton.addEventListener("click", () => {
    autoplay = !autoplay;
    store.setItem("webchat.autoplay", autoplay ? "1" : "0");
    showAutoplay();
  });
  showAutoplay();

  const VOICE_FAILED = "Voice reply unavailable; the text is above.";
  function attachVoice(el, voice) {
    if (el.querySelector(".voice")) return null;
    const player = voices.create(voice);
    el.classList.add("voice-reply");
    el.appendChild(player.element);
    return player;
  }
  function restore(t) {
    const el = bubble(t.key, t.cls, t.at);
    setText(el, t.text, t.key.startsWith("r:"));
    if (t.voice) attachVoice(el, t.voice);
    if (t.voiceFailed) note(el, "voice-failed", VOICE_FAILED);
  }
  for (const t of transcript) restore(t);
  showIntro();
  scrollDown(true);

  function clearConversation() {
    for (const el of [...list.querySelectorAll(".msg")]) el.remove();
    bubbles.clear();
    transcript = [];
    save();
    showIntro();
  }

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
        if (typeof f.greeting === "string" && f.greeting) $("greeting").textContent = f.greeting;
        if (typeof f.hint === "string" && f.hint) $("hint").textContent = f.hint;
        break;
      case "ack": {
        outbox.delete(f.id);
        const el = bubbles.get("u:" + f.id);
        if (el) el.classList.remove("pending");
        break;
      }
      case "rejected": {                        // not sent: keep the text to edit
        outbox.delete(f.id);
        const key = "u:" + f.id;
        const el = bubbles.get(key);
        if (el) {
          el.classList.remove("pending");
          el.classList.add("failed");
          note(el, "not-sent", f.message || "Not sent.");
          const t = entry(key);
          if (t && input.value.trim() === "") { input.value = t.text; refresh(); input.focus(); }
          scrollDown(true);
        }
        forget(key);
        announce(f.message || "Not sent.");
        break;
      }
      case "echo": {                            // sent from another tab of this session
        const el = bubble("u:" + f.id, "user");
        setText(el, f.text, false);
        remember({ key: "u:" + f.id, cls: "user", text: f.text, at: Date.now() });
        break;
      }
      case "reset":                             // the conversation was forgotten: so is the page
        clearConversation();
        break;
      case "typing":
        typing(true, f.action === "record_voice" ? "recording voice" : "typing");
        break;
      case "delta": {
        typing(false);
        const el = bubble("r:" + f.reply_id, "bot streaming");
        const seen = Number(el.dataset.seq || -1);
        if (f.seq > seen) {                     // ignore replays of pieces already shown
          el.dataset.seq = String(f.seq);
          setText(el, el.querySelector(".body").textContent + f.text, false);
        }
        break;
      }
      case "done": {
        typing(false);
        const cls = f.notice ? "bot notice" : "bot";
        const key = "r:" + f.reply_id;
        const el = bubble(key, cls);
        el.className = "msg " + cls;
        setText(el, f.text, true);
        remember({ key, cls, text: f.text, at: Date.now() });
        announce(botName + ": " + f.text);
        break;
      }
      case "voice": {
        typing(false);
        const key = "r:" + f.reply_id;
        const el = bubble(key, "bot");
        const voice = { url: f.url, duration: f.duration_s, waveform: f.waveform || [] };
        const player = attachVoice(el, voice);
        const t = entry(key);
        remember({ key, cls: t ? t.cls : "bot", text: t ? t.text : (f.text || ""), at: t ? t.at : Date.now(), voice });
        if (!t) setText(el, f.text || "", true);
        scrollDown(true);
        announce("Voice reply, " + voices.clock(f.duration_s || 0));
        if (player && autoplay) player.play();
        break;
      }
      case "voice_failed": {                    // the text is there; stop "recording voice" and say so
        typing(false);
        const key = "r:" + f.reply_id;
        const el = bubbles.get(key);
        if (el) {
          note(el, "voice-failed", VOICE_FAILED);
          remember({ key, voiceFailed: true });
        }
        announce(VOICE_FAILED);
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
  function submit(text) {
    const id = randomId(12);
    const el = bubble("u:" + id, "user pending");
    setText(el, text, false);
    scrollDown(true);
    remember({ key: "u:" + id, cls: "user", text, at: Date.now() });
    outbox.set(id, text);
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "message", id, text }));
    return id;
  }
  function send() {
    const text = input.value;
    if (text.trim() === "") return;
    submit(text);
    input.value = "";
    refresh();
    input.focus();
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  input.addEventListener("input", refresh);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  newChatButton.addEventListener("click", () => { submit("/reset"); input.focus(); });

  // The page's small API for other scripts (mic.js: recordings, transcripts).
  const frameHooks = [];
  window.webchat = {
    get session() { return session; },
    send: (text) => { if (String(text).trim() !== "") submit(String(text)); },
    setInput: (text) => { input.value = String(text); refresh(); input.focus(); },
    onFrame(hook) { frameHooks.push(hook); },                 // frames this file does not handle
    userBubble(id, text, cls) {                               // a user bubble (mic.js: recordings)
      const el = bubble("u:" + id, cls || "user");
      el.className = "msg " + (cls || "user");
      setText(el, text);
      scrollDown(true);
      if (!/pending/.test(cls || "")) remember({ key: "u:" + id, cls: "user", text, at: Date.now() });
      return el;
    },
    randomId,
  };
  connect();
  input.focus();
})();
