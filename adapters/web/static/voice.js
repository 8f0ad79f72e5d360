// Voice bubbles: play/pause, the duration known up front (the server sends it), the waveform the server
// computed for Discord's voice messages, a seek slider (keyboard: arrows, Home, End), playback speed.
// One clip plays at a time.
"use strict";
(() => {
  const BARS = 40;
  const SPEEDS = [1, 1.5, 2];
  const store = window.localStorage;
  let playing = null;          // the <audio> playing now
  let speed = Number(store.getItem("webchat.speed")) || 1;
  if (!SPEEDS.includes(speed)) speed = 1;

  function clock(seconds) {
    const s = Math.max(0, Math.ceil(seconds - 0.05));   // 0.5 s shows 0:01, never 0:00
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function bars(waveform) {
    const points = Array.isArray(waveform) ? waveform : [];
    const out = [];
    for (let i = 0; i < BARS; i++) {
      if (!points.length) { out.push(0.25); continue; }
      const lo = Math.floor(i * points.length / BARS), hi = Math.max(lo + 1, Math.floor((i + 1) * points.length / BARS));
      let peak = 0;
      for (let j = lo; j < hi && j < points.length; j++) peak = Math.max(peak, Number(points[j]) || 0);
      out.push(peak / 255);
    }
    return out;
  }

  function button(cls, label, text) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.setAttribute("aria-label", label);
    b.textContent = text;
    return b;
  }

  // Builds the voice player for `voice` = {url, duration, waveform}; returns {element, play}.
  function create(voice) {
    const duration = Math.max(0, Number(voice.duration) || 0);
    const box = document.createElement("div");
    box.className = "voice";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Voice reply, " + clock(duration));
    const play = button("play", "Play voice reply", "▶");
    const wave = document.createElement("div");
    wave.className = "wave";
    wave.tabIndex = 0;
    wave.setAttribute("role", "slider");
    wave.setAttribute("aria-label", "Position in the voice reply");
    wave.setAttribute("aria-valuemin", "0");
    wave.setAttribute("aria-valuemax", String(Math.round(duration * 10) / 10));
    const heights = bars(voice.waveform);
    for (const h of heights) {
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.height = Math.round(12 + 88 * h) + "%";
      wave.appendChild(bar);
    }
    const time = document.createElement("span");
    time.className = "time";
    const rate = button("speed", "", "");
    box.append(play, wave, time, rate);

    const audio = new Audio();
    audio.preload = "none";
    audio.src = voice.url;
    let known = duration;      // the server's figure; the decoder's once it has one

    function showRate() {
      rate.textContent = speed + "×";
      rate.setAttribute("aria-label", "Playback speed " + speed + "×");
      audio.playbackRate = speed;
    }
    function progress() {
      const at = audio.currentTime || 0;
      const share = known > 0 ? Math.min(1, at / known) : 0;
      const lit = Math.round(share * BARS);
      wave.querySelectorAll(".bar").forEach((bar, i) => bar.classList.toggle("played", i < lit));
      time.textContent = audio.paused && at === 0 ? clock(known) : clock(at);
      wave.setAttribute("aria-valuenow", String(Math.round(at * 10) / 10));
      wave.setAttribute("aria-valuetext", clock(at) + " of " + clock(known));
    }
    function state() {
      const on = !audio.paused && !audio.ended;
      box.classList.toggle("playing", on);
      play.textContent = on ? "❚❚" : "▶";
      play.setAttribute("aria-label", on ? "Pause voice reply" : "Play voice reply");
    }
    function start() {
      if (playing && playing !== audio) playing.pause();
      playing = audio;
      audio.playbackRate = speed;
      return audio.play().catch(() => { state(); });
    }
    function seek(seconds) {
      if (!(known > 0)) return;
      audio.currentTime = Math.max(0, Math.min(known, seconds));
      progress();
    }
    play.addEventListener("click", () => { if (audio.paused || audio.ended) start(); else audio.pause(); });
    rate.addEventListener("click", () => {
      speed = SPEEDS[(SPEEDS.indexOf(speed) + 1) % SPEEDS.length];
      store.setItem("webchat.speed", String(speed));
      document.querySelectorAll(".voice .speed").forEach((b) => b.dispatchEvent(new Event("speedchange")));
    });
    rate.addEventListener("speedchange", showRate);
    wave.addEventListener("click", (e) => {
      const r = wave.getBoundingClientRect();
      seek(known * (e.clientX - r.left) / Math.max(1, r.width));
    });
    wave.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 }[e.key];
      if (step !== undefined) seek((audio.currentTime || 0) + step);
      else if (e.key === "Home") seek(0);
      else if (e.key === "End") seek(known);
      else if (e.key === " " || e.key === "Enter") play.click();
      else return;
      e.preventDefault();
    });
    audio.addEventListener("durationchange", () => { if (isFinite(audio.duration) && audio.duration > 0) known = audio.duration; progress(); });
    audio.addEventListener("timeupdate", progress);
    audio.addEventListener("play", state);
    audio.addEventListener("pause", state);
    audio.addEventListener("ended", () => { state(); audio.currentTime = 0; progress(); if (playing === audio) playing = null; });
    audio.addEventListener("error", () => {
      box.classList.add("expired");
      play.disabled = true;
      time.textContent = "expired";
      box.setAttribute("aria-label", "Voice reply, no longer available");
      state();
    });
    showRate();
    progress();
    state();
    box.audio = audio;
    return { element: box, play: start };
  }

  window.webchatVoice = { create, clock };
})();
