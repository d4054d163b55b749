// edgesnn live dashboard. Every string from a device, model or data file is set as text
// (textContent) or drawn (fillText): nothing here parses HTML. The page only reads: the
// websocket carries state to it and nothing from it reaches a device.
"use strict";

const devices = new Map(); // name -> full view (server's DeviceView.full())
const cards = new Map(); // name -> {root, fields, canvases, legend}
let socket = null;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function hue(c, n) { return `hsl(${Math.round((c * 360) / Math.max(n, 1))}, 62%, 48%)`; }
function pct(v) { return v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`; }
function num(v, digits) {
  if (v === null || v === undefined) return "–";
  return v.toLocaleString("en", { maximumFractionDigits: digits === undefined ? 0 : digits });
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${proto}://${location.host}/ws${location.search}`);
  socket.onopen = () => setLink("live", "live");
  socket.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "snapshot") {
      devices.clear();
      if (msg.title) { document.getElementById("title").textContent = msg.title; document.title = msg.title; }
    }
    for (const d of msg.devices) devices.set(d.device, d);
    render();
  };
  socket.onclose = () => { setLink("lost", "reconnecting…"); setTimeout(connect, 1000); };
}

function setLink(cls, text) {
  const b = document.getElementById("link");
  b.className = `badge ${cls}`;
  b.textContent = text;
}

function tagged(e, attr, key) { // e with data-ATTR=KEY, for the page's updates and for tests
  e.dataset[attr] = key;
  return e;
}

function labelled(parent, cls, label, child) { // child under a small label, in a CLS box
  const box = el("div", cls);
  box.appendChild(el("div", "k", label));
  box.appendChild(child);
  parent.appendChild(box);
  return child;
}

function makeCard(name) {
  const root = tagged(el("section", "card"), "device", name);
  const head = el("div");
  head.appendChild(el("h2", "", name));
  const status = head.appendChild(tagged(el("span", "badge"), "field", "status"));
  root.appendChild(head);
  const ident = root.appendChild(tagged(el("div", "ident"), "field", "identity"));
  const error = root.appendChild(tagged(el("div", "error"), "field", "error"));
  const figs = root.appendChild(el("div", "figs"));
  const fields = { status, ident, error };
  for (const [key, label] of [
    ["samples", "samples"], ["accuracy", "accuracy"], ["mismatches", "mismatches"], ["last", "last prediction"],
    ["latency", "latency median (recent)"], ["retransmissions", "retransmissions"], ["damaged", "damaged frames"],
    ["instructions", "instructions / inference"], ["energy", "energy / inference"],
  ]) {
    fields[key] = labelled(figs, "fig", label, tagged(el("div", "v", "–"), "field", key));
  }
  const plots = root.appendChild(el("div", "plots"));
  const canvases = {};
  for (const [key, label] of [
    ["timeline", "predictions and ground truth"], ["activity", "input activity (events)"],
    ["raster", "output spikes"], ["latency", "latency histogram (ms, log)"],
  ]) {
    canvases[key] = labelled(plots, "plot", label, tagged(el("canvas"), "plot", key));
  }
  const legend = root.appendChild(el("div", "legend"));
  document.getElementById("devices").appendChild(root);
  return { root, fields, canvases, legend, legendKey: "" };
}

function render() {
  let samples = 0, mism = 0, gone = 0;
  for (const [name, d] of devices) {
    if (!cards.has(name)) cards.set(name, makeCard(name));
    update(cards.get(name), d);
    samples += d.samples; mism += d.mismatches; gone += d.status === "gone";
  }
  document.getElementById("overall").textContent =
    `${devices.size} device${devices.size === 1 ? "" : "s"} · ${num(samples)} samples · ${num(mism)} mismatches` +
    (gone ? ` · ${gone} gone` : "");
}

function update(card, d) {
  const f = card.fields, id = d.identity || {}, names = id.class_names || [];
  const stream = d.kind === "stream";
  card.root.className = `card ${d.status}`;
  f.status.className = `badge ${d.status}`;
  f.status.textContent = d.status === "gone" ? "gone" : d.status;
  f.ident.textContent = [
    id.board && `board ${id.board}`, id.model_hash && `model ${id.model_hash}`, id.firmware && `firmware ${id.firmware}`,
    id.protocol !== undefined && `protocol ${id.protocol}`, id.abi !== undefined && `ABI ${id.abi}`,
    id.contract !== undefined && `contract ${id.contract}`, id.port && `port ${id.port}`,
  ].filter(Boolean).join(" · ");
  f.error.textContent = d.error ? `device gone: ${d.error}` : "";
  const total = d.total ? ` of ${num(d.total)}` : "";
  f.samples.textContent = stream ? `${num(d.timesteps)}${total} steps` : `${num(d.samples)}${total}`;
  f.accuracy.textContent = pct(d.accuracy);
  f.mismatches.textContent = num(d.mismatches);
  f.mismatches.className = d.mismatches ? "v bad" : "v";
  f.last.textContent = d.last_prediction_name === null ? "–" : d.last_prediction_name;
  f.latency.textContent = d.latency_ms_median === null ? "–" : `${num(d.latency_ms_median, 2)} ms`;
  f.retransmissions.textContent = num(d.retransmissions);
  f.damaged.textContent = num(d.damaged_frames);
  f.instructions.textContent = num(d.instructions_per_inference);
  f.energy.textContent = d.energy_uj_per_inference === null ? "–" : `${num(d.energy_uj_per_inference, 2)} µJ`;
  const key = names.join("\u0000");
  if (key !== card.legendKey) { // class names as text, each with its colour
    card.legendKey = key;
    card.legend.replaceChildren();
    names.forEach((n, c) => {
      const s = el("span");
      const sw = el("i");
      sw.style.background = hue(c, names.length);
      s.appendChild(sw);
      s.appendChild(document.createTextNode(n));
      card.legend.appendChild(s);
    });
  }
  if (stream) drawStreamTimeline(card.canvases.timeline, d, names.length); else drawTimeline(card.canvases.timeline, d, names.length);
  drawActivity(card.canvases.activity, d, stream);
  drawRaster(card.canvases.raster, d, Math.max(names.length, 1));
  drawLatency(card.canvases.latency, d);
}

function prep(c) {
  const r = window.devicePixelRatio || 1, w = c.clientWidth || 260, h = c.clientHeight || 110;
  if (c.width !== Math.round(w * r)) { c.width = Math.round(w * r); c.height = Math.round(h * r); }
  const g = c.getContext("2d");
  g.setTransform(r, 0, 0, r, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = "10px system-ui, sans-serif";
  return [g, w, h];
}

function drawTimeline(c, d, n) { // per sample: label above, prediction below, misses marked
  const [g, w, h] = prep(c), rows = d.history.slice(-100), bw = w / 100;
  g.fillStyle = "#667085"; g.fillText("truth", 2, 10); g.fillText("device", 2, h / 2 + 10);
  rows.forEach(([, label, pred, match], i) => {
    const x = i * bw;
    g.fillStyle = hue(label, n); g.fillRect(x, 14, bw - 1, h / 2 - 20);
    g.fillStyle = hue(pred, n); g.fillRect(x, h / 2 + 14, bw - 1, h / 2 - 20);
    if (label !== pred) { g.fillStyle = "#b91c1c"; g.fillRect(x, h - 5, bw - 1, 4); }
    if (!match) { g.fillStyle = "#000"; g.fillRect(x, h / 2 - 4, bw - 1, 8); }
  });
}

function drawStreamTimeline(c, d, n) { // streams: the last 30 s, segments above, detections below
  const [g, w, h] = prep(c), end = d.history.length ? d.history[d.history.length - 1][0] : 0, span = 30;
  const x = (t) => ((t - (end - span)) / span) * w;
  g.fillStyle = "#667085"; g.fillText("segments", 2, 10); g.fillText("detections", 2, h / 2 + 10);
  for (const [a, b, cls] of (d.identity && d.identity.segments) || []) {
    if (b < end - span || a > end) continue;
    g.fillStyle = hue(cls, n); g.fillRect(x(a), 14, Math.max(x(b) - x(a), 1), h / 2 - 20);
  }
  for (const [t, cls] of d.detections) {
    if (t < end - span) continue;
    g.fillStyle = hue(cls, n); g.fillRect(x(t) - 1, h / 2 + 14, 3, h / 2 - 20);
  }
  g.fillStyle = "#667085"; g.fillText(`${num(end, 1)} s`, w - 40, h - 2);
}

function drawActivity(c, d, stream) {
  const [g, w, h] = prep(c), k = stream ? 1 : 4, vals = d.history.slice(-150).map((r) => r[k]);
  const top = Math.max(1, ...vals), bw = w / 150;
  g.fillStyle = "#1d4ed8";
  vals.forEach((v, i) => { const bh = (v / top) * (h - 14); g.fillRect(i * bw, h - bh, Math.max(bw - 0.5, 0.5), bh); });
  g.fillStyle = "#667085"; g.fillText(`max ${num(top)}`, 2, 10);
}

function drawRaster(c, d, n) {
  const [g, w, h] = prep(c), steps = 400, start = d.raster_end - steps;
  const top = 14, row = (h - top) / n;
  g.fillStyle = "#1d2330";
  for (const [t, k] of d.raster) {
    if (t < start) continue;
    g.fillRect(((t - start) / steps) * w, top + k * row + 0.5, 1.5, Math.max(row - 1, 1));
  }
  g.fillStyle = "#667085"; g.fillText(`last ${steps} timesteps, ${n} outputs`, 2, 10);
}

function drawLatency(c, d) {
  const [g, w, h] = prep(c), counts = d.latency_counts, edges = d.latency_edges_ms;
  let lo = counts.findIndex((v) => v > 0), hi = counts.length - 1;
  while (hi > 0 && counts[hi] === 0) hi--;
  if (lo < 0) { g.fillStyle = "#667085"; g.fillText("no replies yet", 2, 10); return; }
  lo = Math.max(lo - 1, 0); hi = Math.min(hi + 1, counts.length - 1);
  const top = Math.max(...counts), bw = w / (hi - lo + 1);
  g.fillStyle = "#b45309";
  for (let k = lo; k <= hi; k++) { const bh = (counts[k] / top) * (h - 24); g.fillRect((k - lo) * bw, h - 12 - bh, bw - 1, bh); }
  g.fillStyle = "#667085";
  g.fillText(`${num(edges[Math.max(lo - 1, 0)], 2)} ms`, 2, h - 1);
  const right = `${num(edges[Math.min(hi, edges.length - 1)], 2)} ms`;
  g.fillText(right, w - g.measureText(right).width - 2, h - 1);
}

connect();
