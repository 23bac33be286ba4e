// dpk annotate: the annotation page (plain JavaScript, no build step).
// Image pixel convention: the centre of the top-left pixel is (0, 0).
"use strict";

const S = {
  project: null, pos: 0, frame: null, image: null, k: 0,
  view: { scale: 1, ox: 0, oy: 0, fitted: false },
  undo: {}, redo: {}, token: null, readonly: false,
  queue: Promise.resolve(), pending: 0, loading: false, mouse: null, drag: null, pan: null,
};
const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const COLOURS = { labelled: "#4cf", occluded: "#fa3", predicted: "#c8f", missing: "#888" };

async function api(method, url, body) {
  const headers = { "Content-Type": "application/json" };
  if (S.token) headers["X-Dpk-Token"] = S.token;
  const response = await fetch(url, { method, headers, body: body && JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function message(text) { $("message").textContent = text || ""; }
function savedState(text, cls) { const el = $("saved"); el.textContent = text; el.className = cls; }

// ----------------------------------------------------------------- loading
async function start() {
  const claim = await api("POST", "/api/claim", { token: sessionStorage.getItem("dpkToken") });
  S.token = claim.token; S.readonly = claim.readonly;
  if (S.token) sessionStorage.setItem("dpkToken", S.token);
  $("mode").textContent = S.readonly ? "READ-ONLY: " + claim.reason : "";
  $("mode").className = S.readonly ? "readonly" : "";
  S.project = await api("GET", "/api/project");
  $("project").textContent = S.project.path;
  const wanted = parseInt(sessionStorage.getItem("dpkPos") || "0", 10);
  listKeypoints();
  listFrames();
  await openFrame(Math.min(wanted, S.project.frames.length - 1));
  savedState("saved", "saved");
  setInterval(heartbeat, 5000);
}

async function heartbeat() {
  if (S.readonly) return;
  const r = await api("POST", "/api/heartbeat", {});
  if (!r.writer) { S.readonly = true; $("mode").textContent = "READ-ONLY: another tab took over"; $("mode").className = "readonly"; }
}

async function openFrame(pos) {
  if (pos < 0 || pos >= S.project.frames.length || S.loading) return;
  S.loading = true;
  try { await S.queue; await loadFrame(pos); } finally { S.loading = false; }
}

async function loadFrame(pos) {  // after the frame's saves, never while another loads
  S.pos = pos;
  sessionStorage.setItem("dpkPos", String(pos));
  S.frame = await api("GET", "/api/frame/" + pos);
  const image = new Image();
  image.src = "/api/image/" + pos + ".png";
  try { await image.decode(); } catch (e) { message("cannot show this frame: the video could not be decoded"); }
  S.image = image;
  if (!S.view.fitted) fit();
  S.k = firstOpenKeypoint();
  listFrames();
  listKeypoints();
  draw();
  canvas.focus();
}

function firstOpenKeypoint() {
  const i = S.frame.state.findIndex((s) => s !== "labelled" && s !== "occluded");
  return i < 0 ? 0 : i;
}

// ----------------------------------------------------------------- lists
function listKeypoints() {
  const ol = $("keypoints"); ol.innerHTML = "";
  S.project.names.forEach((name, i) => {
    const li = document.createElement("li");
    const state = S.frame ? S.frame.state[i] : "missing";
    li.textContent = name + (state === "missing" ? "" : " (" + state + ")");
    li.className = "st-" + state + (i === S.k ? " current" : "");
    li.dataset.keypoint = name;
    li.onclick = () => { S.k = i; listKeypoints(); draw(); canvas.focus(); };
    ol.appendChild(li);
  });
}

function listFrames() {
  const ol = $("frames"); ol.innerHTML = "";
  const counts = {};
  S.project.frames.forEach((f, i) => {
    counts[f.status] = (counts[f.status] || 0) + 1;
    const li = document.createElement("li");
    li.textContent = f.video + " #" + f.index + " " + f.status + (f.added === "sample" ? "" : " (" + f.added + ")");
    li.className = "fs-" + f.status + (i === S.pos ? " current" : "");
    li.onclick = () => openFrame(i);
    ol.appendChild(li);
  });
  $("counts").textContent = Object.entries(counts).map(([k, v]) => v + " " + k).join(", ");
}

// ----------------------------------------------------------------- view
function resize() {
  const r = canvas.getBoundingClientRect();
  canvas.width = Math.round(r.width); canvas.height = Math.round(r.height);
}

function fit() {
  resize();
  if (!S.image || !S.image.naturalWidth) return;
  const s = Math.min(canvas.width / S.image.naturalWidth, canvas.height / S.image.naturalHeight);
  S.view = { scale: s, ox: (canvas.width - s * S.image.naturalWidth) / 2,
             oy: (canvas.height - s * S.image.naturalHeight) / 2, fitted: true };
}

function actualSize() { S.view = { scale: 1, ox: 0, oy: 0, fitted: true }; }

// client (page) coordinates -> image pixels, and back. The mouse points at a screen
// pixel: its centre (+0.5) is the point meant, so at 100% a click gives whole pixels.
function toImage(clientX, clientY) {
  const r = canvas.getBoundingClientRect();
  return [(clientX + 0.5 - r.left - S.view.ox) / S.view.scale - 0.5,
          (clientY + 0.5 - r.top - S.view.oy) / S.view.scale - 0.5];
}
function toClient(x, y) {
  const r = canvas.getBoundingClientRect();
  return [r.left + S.view.ox + (x + 0.5) * S.view.scale, r.top + S.view.oy + (y + 0.5) * S.view.scale];
}
function inside(x, y) {
  const w = S.image.naturalWidth, h = S.image.naturalHeight;
  return x >= -0.5 && y >= -0.5 && x <= w - 0.5 && y <= h - 0.5;
}

function draw() {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!S.image || !S.frame) return;
  const v = S.view;
  ctx.imageSmoothingEnabled = v.scale < 1;
  if (S.image.naturalWidth) ctx.drawImage(S.image, v.ox, v.oy, S.image.naturalWidth * v.scale, S.image.naturalHeight * v.scale);
  const f = S.frame;
  const at = (i) => [v.ox + (f.x[i] + 0.5) * v.scale, v.oy + (f.y[i] + 0.5) * v.scale];
  const has = (i) => f.x[i] !== null && f.state[i] !== "missing";
  ctx.lineWidth = 2; ctx.strokeStyle = "rgba(255,255,255,0.6)";
  for (const [p, c] of S.project.edges) {
    if (!has(p) || !has(c)) continue;
    const [x1, y1] = at(p), [x2, y2] = at(c);
    ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x2, y2); ctx.stroke();
  }
  ctx.font = "11px sans-serif";
  for (let i = 0; i < f.x.length; i++) {
    if (!has(i)) continue;
    const [x, y] = at(i);
    ctx.strokeStyle = ctx.fillStyle = COLOURS[f.state[i]];
    ctx.beginPath(); ctx.arc(x, y, 4, 0, 2 * Math.PI);
    if (f.state[i] === "occluded") ctx.stroke(); else ctx.fill();
    if (i === S.k) { ctx.strokeStyle = "#fff"; ctx.beginPath(); ctx.arc(x, y, 8, 0, 2 * Math.PI); ctx.stroke(); }
    ctx.fillStyle = "#fff"; ctx.fillText(S.project.names[i], x + 7, y - 7);
  }
}

// ----------------------------------------------------------------- editing
function snapshot() { const f = S.frame; return JSON.stringify({ x: f.x, y: f.y, state: f.state, done: f.done }); }

function change(edit) {
  if (S.readonly) { message("read-only: the project is open in another tab"); return; }
  (S.undo[S.pos] = S.undo[S.pos] || []).push(snapshot());
  S.redo[S.pos] = [];
  edit(S.frame);
  commit();
}

function restore(from, to) {
  const stack = from[S.pos] || [];
  if (!stack.length || S.readonly) return;
  (to[S.pos] = to[S.pos] || []).push(snapshot());
  Object.assign(S.frame, JSON.parse(stack.pop()));
  commit();
}

function commit() {
  draw(); listKeypoints();
  const pos = S.pos, body = { x: S.frame.x, y: S.frame.y, state: S.frame.state, done: S.frame.done };
  S.pending += 1; savedState("saving…", "unsaved");
  S.queue = S.queue.then(async () => {
    try {
      const saved = await api("PUT", "/api/frame/" + pos, body);
      S.project.frames[pos].status = saved.status;
      if (pos === S.pos) listFrames();
      savedState("saved", "saved");
    } catch (e) {
      savedState("NOT SAVED: " + e.message, "failed");
    } finally { S.pending -= 1; }
  });
}

function place(i, x, y) {
  change((f) => { f.x[i] = x; f.y[i] = y; f.state[i] = "labelled"; });
}

function nextKeypoint(step) {
  const n = S.project.names.length;
  S.k = (S.k + step + n) % n; listKeypoints(); draw();
}

function nearest(clientX, clientY) {
  const f = S.frame; let best = -1, bestD = 8;
  for (let i = 0; i < f.x.length; i++) {
    if (f.x[i] === null || f.state[i] === "missing") continue;
    const [cx, cy] = toClient(f.x[i], f.y[i]);
    const d = Math.hypot(cx - clientX, cy - clientY);
    if (d < bestD) { best = i; bestD = d; }
  }
  return best;
}

canvas.addEventListener("contextmenu", (e) => e.preventDefault());
canvas.addEventListener("mousedown", (e) => {
  canvas.focus();
  if (e.button === 2 || e.button === 1 || e.shiftKey) { S.pan = [e.clientX, e.clientY]; return; }
  if (e.button !== 0 || !S.frame || S.loading) return;
  const [x, y] = toImage(e.clientX, e.clientY);
  const hit = nearest(e.clientX, e.clientY);
  if (hit >= 0 && hit !== S.k) { S.k = hit; listKeypoints(); draw(); }
  if (hit >= 0) { S.drag = { i: hit, moved: false, before: snapshot() }; return; }
  if (!inside(x, y)) { message("outside the image: nothing placed"); return; }
  message("");
  place(S.k, x, y);
  nextKeypoint(1);
});
canvas.addEventListener("mousemove", (e) => {
  S.mouse = [e.clientX, e.clientY];
  if (S.pan) {
    S.view.ox += e.clientX - S.pan[0]; S.view.oy += e.clientY - S.pan[1];
    S.pan = [e.clientX, e.clientY]; draw(); return;
  }
  if (S.drag && !S.readonly) {
    const [x, y] = toImage(e.clientX, e.clientY);
    if (!inside(x, y)) return;
    S.drag.moved = true;
    S.frame.x[S.drag.i] = x; S.frame.y[S.drag.i] = y;
    if (S.frame.state[S.drag.i] !== "occluded") S.frame.state[S.drag.i] = "labelled";
    draw();
  }
});
window.addEventListener("mouseup", () => {
  S.pan = null;
  if (S.drag) {
    if (S.drag.moved) {
      (S.undo[S.pos] = S.undo[S.pos] || []).push(S.drag.before);
      S.redo[S.pos] = []; commit();
    }
    S.drag = null;
  }
});
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const r = canvas.getBoundingClientRect();
  const mx = e.clientX - r.left, my = e.clientY - r.top;
  const factor = e.deltaY < 0 ? 1.25 : 0.8;
  S.view.ox = mx - (mx - S.view.ox) * factor; S.view.oy = my - (my - S.view.oy) * factor;
  S.view.scale *= factor; draw();
}, { passive: false });

document.addEventListener("keydown", (e) => {
  if (!S.frame || S.loading) return;
  const f = S.frame, i = S.k, key = e.key;
  const ctrl = e.ctrlKey || e.metaKey;
  if (ctrl && (key === "z" || key === "Z")) { e.preventDefault(); if (e.shiftKey) restore(S.redo, S.undo); else restore(S.undo, S.redo); return; }
  if (ctrl && (key === "y" || key === "Y")) { e.preventDefault(); restore(S.redo, S.undo); return; }
  if (ctrl) return;
  if (key === "Tab") { e.preventDefault(); nextKeypoint(e.shiftKey ? -1 : 1); }
  else if (e.shiftKey && key.startsWith("Arrow")) {
    e.preventDefault();
    if (f.x[i] === null) { message("place the keypoint first, then nudge it"); return; }
    const dx = key === "ArrowLeft" ? -1 : key === "ArrowRight" ? 1 : 0;
    const dy = key === "ArrowUp" ? -1 : key === "ArrowDown" ? 1 : 0;
    const x = f.x[i] + dx, y = f.y[i] + dy;
    if (!inside(x, y)) { message("outside the image: not moved"); return; }
    change((g) => { g.x[i] = x; g.y[i] = y; if (g.state[i] !== "occluded") g.state[i] = "labelled"; });
  }
  else if (key === "ArrowRight" || key === "PageDown") { e.preventDefault(); openFrame(S.pos + 1); }
  else if (key === "ArrowLeft" || key === "PageUp") { e.preventDefault(); openFrame(S.pos - 1); }
  else if (key === "f") {
    if (!S.mouse) return;
    const [x, y] = toImage(S.mouse[0], S.mouse[1]);
    if (!inside(x, y)) { message("outside the image: nothing placed"); return; }
    place(i, x, y); nextKeypoint(1);
  }
  else if (key === "o") {
    change((g) => {
      if (g.state[i] === "occluded") g.state[i] = g.x[i] === null ? "missing" : "labelled";
      else g.state[i] = "occluded";
    });
  }
  else if (key === "x" || key === "Delete" || key === "Backspace") {
    change((g) => { g.x[i] = null; g.y[i] = null; g.state[i] = "missing"; });
  }
  else if (key === "a") {
    change((g) => { g.state = g.state.map((s) => (s === "predicted" ? "labelled" : s)); });
  }
  else if (key === "s") {
    change((g) => {
      S.project.swaps.forEach((j, k) => {
        if (j > k) {
          for (const field of ["x", "y", "state"]) { const t = g[field][k]; g[field][k] = g[field][j]; g[field][j] = t; }
        }
      });
    });
  }
  else if (key === "Enter") { e.preventDefault(); change((g) => { g.done = true; }); openFrame(S.pos + 1); }
  else if (key === "1") { actualSize(); draw(); }
  else if (key === "0") { fit(); draw(); }
});
window.addEventListener("resize", () => { resize(); draw(); });
window.addEventListener("pagehide", () => {  // closing or reloading: free the write token
  if (S.token && !S.readonly) navigator.sendBeacon("/api/release", JSON.stringify({ token: S.token }));
});

// For scripted sessions and tests: image pixels -> page coordinates, and unsaved changes.
window.dpk = {
  toClient, toImage, pending: () => S.pending, state: () => S, ready: false,
  idle: () => S.pending === 0 && !S.loading,
};
start().then(() => { window.dpk.ready = true; }).catch((e) => { message(String(e)); savedState("error", "failed"); });
