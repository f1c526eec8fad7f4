// The room's page: captions from /r/CODE/events (Server-Sent Events read with fetch, so the page sees
// the status of each attempt), rows keyed by the caption's index so a resumed or repeated stream never
// shows a line twice, settings kept in this browser. No library, no build step.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const root = document.documentElement;
  const code = location.pathname.split("/")[2] || "";
  const base = `/r/${encodeURIComponent(code)}`;
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  // -- settings, remembered in this browser -------------------------------------------------------
  const KEY = "live-room-settings";
  const prefersLight = window.matchMedia("(prefers-color-scheme: light)").matches;
  const settings = Object.assign({ size: 1, theme: prefersLight ? "light" : "dark", spacing: "normal", lang: "" },
    read());
  function read() {
    try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(settings)); } catch (e) { /* private mode: not kept */ }
  }
  function apply() {
    settings.size = Math.min(3, Math.max(0.6, Math.round(settings.size * 10) / 10));
    root.style.setProperty("--scale", String(settings.size));
    root.dataset.theme = settings.theme;
    root.dataset.spacing = settings.spacing;
    $("size").textContent = `${Math.round(settings.size * 100)}%`;
    $("theme").value = settings.theme;
    $("spacing").value = settings.spacing;
    save();
    if (following) toEnd();
  }

  // -- state --------------------------------------------------------------------------------------
  const captions = $("captions");
  const partial = $("partial");
  const scroller = $("scroller");
  const rows = new Map(); // "f12" → the final's row, "m:bookmark:12.5" → a marker's row
  const waiting = new Map(); // index → a translation that came before its final
  const speakers = new Map(); // index → a speaker label that came before its final
  let lang = settings.lang || "";
  let epoch = null;
  let lastSeq = 0;
  let last = null; // the last event id had: a reconnect resumes after it
  let following = true;
  let over = null; // "ended" | "closed" | "rotated": the room will send nothing more
  let controller = null;
  let retryDelay = 500;
  let failingSince = null;
  let paused = false;

  // -- rendering ----------------------------------------------------------------------------------
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
  }
  function onFinal(ev) {
    let row = rows.get(`f${ev.i}`);
    if (!row) {
      row = el("p", "final");
      row.dataset.i = ev.i;
      row.append(el("span", "orig"));
      if (ev.l) row.lang = ev.l;
      captions.append(row);
      rows.set(`f${ev.i}`, row);
    }
    row.querySelector(".orig").textContent = ev.t;
    if (partial.dataset.i !== undefined && Number(partial.dataset.i) <= ev.i) clearPartial();
    const early = waiting.get(ev.i);
    if (early) { waiting.delete(ev.i); onTranslation(early); }
    const who = speakers.get(ev.i);
    if (who) { speakers.delete(ev.i); onSpeaker(who); }
  }
  // Who said a final (it comes after it; a later label replaces an earlier one): a question from the
  // room is marked, the lecturer's words are not.
  function onSpeaker(ev) {
    const row = rows.get(`f${ev.i}`);
    if (!row) { speakers.set(ev.i, ev); return; }
    const audience = ev.r === "audience";
    row.classList.toggle("audience", audience);
    let tag = row.querySelector(".who");
    if (audience && !tag) {
      tag = el("span", "who", "Question");
      row.prepend(tag);
    } else if (!audience && tag) {
      tag.remove();
    }
  }
  function onTranslation(ev) {
    if (ev.l !== lang) return;
    const row = rows.get(`f${ev.i}`);
    if (!row) { waiting.set(ev.i, ev); return; }
    let tr = row.querySelector(".tr");
    if (!tr) {
      tr = el("span", "tr");
      row.append(tr);
      row.classList.add("has-tr");
    }
    tr.lang = ev.l;
    tr.textContent = ev.t;
  }
  // Glyphs every system font has (a projector's machine may have no emoji font).
  const MARKS = { bookmark: "★ Bookmark", pause: "‖ Captions paused", resume: "▶ Captions resumed", gap: "…" };
  function onMarker(ev) {
    const key = `m:${ev.m}:${ev.a}`;
    if (rows.has(key)) return;
    let text = `${MARKS[ev.m] || ev.m} · ${clock(ev.a)}`;
    if (ev.n) text += ` — ${ev.n}`;
    const row = el("div", ev.m, text);
    captions.append(row);
    rows.set(key, row);
    if (ev.m === "pause") setPaused(true);
    if (ev.m === "resume") setPaused(false);
  }
  function onPartial(ev) {
    if (rows.has(`f${ev.i}`) || !ev.t) { if (String(ev.i) === partial.dataset.i || !ev.t) clearPartial(); return; }
    partial.textContent = ev.t;
    partial.dataset.i = ev.i;
  }
  function clearPartial() {
    partial.textContent = "";
    delete partial.dataset.i;
  }
  function onStatus(ev) {
    $("latency").textContent = ev.lat === null || ev.lat === undefined ? "" : `delay ${ev.lat.toFixed(1)} s`;
    setPaused(Boolean(ev.paused));
  }
  function setPaused(value) {
    paused = value;
    $("paused").hidden = !paused;
  }
  function onHello(ev) {
    if (ev.title) { $("title").textContent = ev.title; document.title = ev.title; }
    const select = $("lang");
    while (select.options.length > 1) select.remove(1);
    for (const offered of ev.languages || []) {
      const option = el("option", "", name(offered));
      option.value = offered.code;
      select.append(option);
    }
    if (lang && !(ev.languages || []).some((o) => o.code === lang)) { lang = ""; settings.lang = ""; save(); }
    select.value = lang;
    say(ev.note ? `Translation: ${ev.note}.` : "");
  }
  function name(offered) {
    try {
      const own = new Intl.DisplayNames([offered.code], { type: "language" }).of(offered.code);
      if (own && own !== offered.name) return `${own} (${offered.name})`;
    } catch (e) { /* an old browser: the English name */ }
    return offered.name;
  }
  function say(text) { $("notice").textContent = text; }
  function finish(kind, text) {
    over = kind;
    clearPartial();
    setState(kind === "ended" ? "ended" : "closed", kind === "ended" ? "ended" : "closed");
    say(text);
  }
  function onEvent(ev) {
    switch (ev.k) {
      case "f": onFinal(ev); break;
      case "p": onPartial(ev); break;
      case "t": onTranslation(ev); break;
      case "v": onSpeaker(ev); break;
      case "m": onMarker(ev); break;
      case "s": onStatus(ev); break;
      case "n": say(ev.t); break;
      case "hello": onHello(ev); break;
      case "end":
        finish("ended", "The lecture has ended. Its captions stay on this page.");
        break;
      case "closed":
        finish(ev.why === "rotated" ? "rotated" : "closed", ev.why === "rotated"
          ? "The room's code was changed: ask for the new link. The captions so far stay on this page."
          : "The room was closed. The captions so far stay on this page.");
        break;
    }
  }

  // -- following the end, and scrolling back ------------------------------------------------------
  function toEnd(smooth) {
    scroller.scrollTo({ top: scroller.scrollHeight, behavior: smooth && !reduceMotion.matches ? "smooth" : "auto" });
  }
  scroller.addEventListener("scroll", () => {
    const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    following = atEnd;
    $("live-button").hidden = atEnd;
  }, { passive: true });
  window.addEventListener("resize", () => { if (following) toEnd(); });
  $("live-button").addEventListener("click", () => {
    following = true;
    $("live-button").hidden = true;
    toEnd(true);
    scroller.focus({ preventScroll: true });
  });

  // -- the stream ---------------------------------------------------------------------------------
  function setState(state, text) {
    const node = $("state");
    node.dataset.state = state;
    node.textContent = text;
  }
  function noteId(id) {
    const cut = id.lastIndexOf("-");
    const e = id.slice(0, cut), n = Number(id.slice(cut + 1));
    if (e !== epoch) { epoch = e; lastSeq = 0; }
    if (n > lastSeq) { lastSeq = n; last = id; }
  }
  function frame(text) {
    let id = null, data = "";
    for (const line of text.split("\n")) {
      if (line.startsWith("id: ")) id = line.slice(4);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (!data) return; // a ping
    let ev;
    try { ev = JSON.parse(data); } catch (e) { return; }
    onEvent(ev);
    if (id) noteId(id);
  }
  async function connect(fresh) {
    if (over) return;
    const query = new URLSearchParams();
    if (last) query.set("after", last);
    if (lang) query.set("lang", lang);
    if (fresh && lang) query.set("fresh", "1");
    const mine = new AbortController();
    controller = mine;
    let response;
    try {
      response = await fetch(`${base}/events?${query}`, { signal: mine.signal, cache: "no-store",
        headers: { Accept: "text/event-stream" } });
    } catch (e) {
      if (controller === mine) retry();
      return;
    }
    if (response.status === 404 || response.status === 410) {
      finish("closed", "This room has closed, or its code has changed. The captions so far stay on this page.");
      return;
    }
    if (!response.ok || !response.body) {
      retry(response.status === 429 || response.status === 503 ? 10000 : undefined);
      return;
    }
    setState("live", "live");
    failingSince = null;
    retryDelay = 500;
    if (!over && $("notice").dataset.kind === "reconnecting") { say(""); delete $("notice").dataset.kind; }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let heard = Date.now();
    const watchdog = setInterval(() => { if (Date.now() - heard > 45000) mine.abort(); }, 5000);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        heard = Date.now();
        buffer += decoder.decode(value, { stream: true });
        let cut;
        let added = false;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          frame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          added = true;
        }
        if (added && following) toEnd();
      }
    } catch (e) {
      // the network went away, or this stream was replaced (a new language)
    } finally {
      clearInterval(watchdog);
    }
    if (controller === mine && !over) retry();
  }
  function retry(delay) {
    setState("reconnecting", "reconnecting…");
    if (failingSince === null) failingSince = Date.now();
    if (Date.now() - failingSince > 60000) {
      const since = new Date(failingSince).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      say(`No answer from the room since ${since}: it may have closed. Still trying…`);
      $("notice").dataset.kind = "reconnecting";
    }
    setTimeout(() => connect(false), delay || retryDelay);
    retryDelay = Math.min(retryDelay * 2, 5000);
  }
  function chooseLanguage(value) {
    lang = value;
    settings.lang = value;
    save();
    waiting.clear();
    for (const tr of captions.querySelectorAll(".tr")) tr.remove();
    for (const row of captions.querySelectorAll(".has-tr")) row.classList.remove("has-tr");
    say("");
    if (over) return;
    if (controller) controller.abort();
    connect(true);
  }

  // -- controls -----------------------------------------------------------------------------------
  function setProjector(on) {
    root.classList.toggle("projector", on);
    $("projector-button").setAttribute("aria-pressed", String(on));
    const url = new URL(location.href);
    if (on) url.searchParams.set("view", "projector"); else url.searchParams.delete("view");
    history.replaceState(null, "", url);
    if (on) $("projector-exit").focus({ preventScroll: true }); else $("projector-button").focus();
    toEnd();
  }
  $("settings-button").addEventListener("click", () => {
    const panel = $("settings");
    panel.hidden = !panel.hidden;
    $("settings-button").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) $("lang").focus();
  });
  $("smaller").addEventListener("click", () => { settings.size -= 0.1; apply(); });
  $("larger").addEventListener("click", () => { settings.size += 0.1; apply(); });
  $("theme").addEventListener("change", (e) => { settings.theme = e.target.value; apply(); });
  $("spacing").addEventListener("change", (e) => { settings.spacing = e.target.value; apply(); });
  $("lang").addEventListener("change", (e) => chooseLanguage(e.target.value));
  $("projector-button").addEventListener("click", () => setProjector(!root.classList.contains("projector")));
  $("projector-exit").addEventListener("click", () => setProjector(false));
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName)) return;
    if (e.key === "+" || e.key === "=") { settings.size += 0.1; apply(); }
    else if (e.key === "-" || e.key === "_") { settings.size -= 0.1; apply(); }
    else if (e.key === "p" || e.key === "P") setProjector(!root.classList.contains("projector"));
    else if (e.key === "Escape" && root.classList.contains("projector")) setProjector(false);
    else if (e.key === "End") { following = true; $("live-button").hidden = true; toEnd(); }
    else return;
    e.preventDefault();
  });

  apply();
  if (new URLSearchParams(location.search).get("view") === "projector") {
    root.classList.add("projector");
    $("projector-button").setAttribute("aria-pressed", "true");
  }
  connect(false);
})();
