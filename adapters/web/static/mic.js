// The microphone: record with MediaRecorder, upload to POST /audio, show what was heard in the user's bubble.
// Hooks into app.js only through window.webchat (session, userBubble, onFrame, randomId).
"use strict";
(() => {
  const chat = window.webchat;
  const form = document.getElementById("composer");
  const sendButton = document.getElementById("send");
  if (!chat || !form || !navigator.mediaDevices || !window.MediaRecorder) return;   // no mic: no button

  const MAX_MS = 120000;                   // the server refuses longer recordings anyway
  const mic = document.createElement("button");
  mic.id = "mic";
  mic.type = "button";
  mic.setAttribute("aria-label", "Record a voice message");
  const MIC_ICON = "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11z";
  const STOP_ICON = "M7 7h10v10H7z";
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "22");
  svg.setAttribute("height", "22");
  svg.setAttribute("aria-hidden", "true");
  const icon = document.createElementNS("http://www.w3.org/2000/svg", "path");
  icon.setAttribute("fill", "currentColor");
  svg.appendChild(icon);
  mic.appendChild(svg);
  const cancel = document.createElement("button");
  cancel.id = "mic-cancel";
  cancel.type = "button";
  cancel.hidden = true;
  cancel.setAttribute("aria-label", "Cancel recording");
  cancel.textContent = "✕";
  const state = document.createElement("span");
  state.id = "mic-state";
  state.setAttribute("role", "status");
  state.hidden = true;
  form.insertBefore(cancel, form.firstChild);
  form.insertBefore(state, sendButton);
  form.insertBefore(mic, sendButton);

  let recorder = null, stream = null, chunks = [], started = 0, ticker = 0, limitTimer = 0, cancelled = false;

  function show(recording) {
    form.dataset.recording = recording ? "on" : "off";
    mic.setAttribute("aria-pressed", recording ? "true" : "false");
    mic.setAttribute("aria-label", recording ? "Stop and send" : "Record a voice message");
    icon.setAttribute("d", recording ? STOP_ICON : MIC_ICON);
    cancel.hidden = !recording;
    state.hidden = !recording;
  }
  function tick() {
    const s = Math.floor((Date.now() - started) / 1000);
    state.textContent = "recording " + Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  function release() {
    clearInterval(ticker);
    clearTimeout(limitTimer);
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    recorder = null;
    show(false);
  }

  async function start() {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      chat.userBubble(chat.randomId(6), "🎙 microphone unavailable: " + e.message, "error");
      return;
    }
    chunks = [];
    cancelled = false;
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (ev) => { if (ev.data && ev.data.size) chunks.push(ev.data); };
    recorder.onstop = () => {
      const type = recorder ? recorder.mimeType : "";
      const blob = new Blob(chunks, { type: type || "audio/webm" });
      release();
      if (!cancelled) upload(blob);
    };
    recorder.start(250);
    started = Date.now();
    tick();
    ticker = setInterval(tick, 250);
    limitTimer = setTimeout(stop, MAX_MS);
    show(true);
  }
  function stop() { if (recorder && recorder.state !== "inactive") recorder.stop(); }

  async function upload(blob) {
    const id = chat.randomId(12);
    const el = chat.userBubble(id, "🎙 voice message…", "user pending voice-in");
    const url = "/audio?session=" + encodeURIComponent(chat.session) + "&id=" + id;
    try {
      const response = await fetch(url, { method: "POST", body: blob, headers: { "Content-Type": blob.type.split(";")[0] } });
      if (!response.ok) {
        let message = response.statusText;
        try { message = (await response.json()).message || message; } catch (e) { /* not JSON */ }
        chat.userBubble(id, "🎙 not sent: " + message, "user voice-in failed");
        return;
      }
      el.classList.remove("pending");
    } catch (e) {
      chat.userBubble(id, "🎙 not sent: " + e.message, "user voice-in failed");
    }
  }

  chat.onFrame((f) => {
    if (f.type === "heard" && f.id) chat.userBubble(f.id, "🎙 " + f.text, "user voice-in");
  });
  mic.addEventListener("click", () => { if (recorder) stop(); else start(); });
  cancel.addEventListener("click", () => { cancelled = true; stop(); });
  show(false);
})();
