"""The inspection page: one self-contained HTML file (styles, script and data inline).

It opens from disk with no server and no network. What it holds, from a
:class:`rnnkit.inspect.language.TextInspection`:

    activations   (N, U) quantised to int8 (round(127 a), a in [-1, 1]), base64: N * U bytes
                  before base64's 4/3 (2,000 characters x 512 units: 1.4 MB)
    predictions   the 5 likeliest next tokens after each token, p in thousandths
    ranking, saturation, gradient flow, as numbers

and draws, in the browser: the text coloured token by token by the chosen unit
(blue -1 .. white 0 .. red +1; or by p of the actual next token), a unit picker and the
ranked interpretable units, the top-5 predictions on hover, the gate-saturation scatter
(one dot per unit, the chosen unit ringed) and the gradient-flow plot (log scale).
"""

from __future__ import annotations

import base64
import html
import json

import numpy as np

QUANT = 127


def page_data(inspection, title: str) -> dict:
    """The JSON the page's script reads."""
    tokens = sorted({t for row in inspection.top_tokens for t in row})
    index = {t: i for i, t in enumerate(tokens)}
    acts = np.clip(np.rint(inspection.activations * QUANT), -QUANT, QUANT).astype(np.int8)
    score = [None if np.isnan(p) else int(round(1000 * p)) for p in inspection.score]
    return {
        "title": title, "description": inspection.description,
        "pieces": list(inspection.pieces), "groups": inspection.groups,
        "N": int(acts.shape[0]), "U": int(acts.shape[1]),
        "acts": base64.b64encode(np.ascontiguousarray(acts).tobytes()).decode("ascii"),
        "tokens": tokens,
        "top": [[index[t] for t in row] for row in inspection.top_tokens],
        "top_p": np.rint(1000 * inspection.top_probs).astype(int).tolist(),
        "score": score, "score_label": inspection.score_label,
        "score_mode": inspection.score_mode, "top_title": inspection.top_title,
        "stats": inspection.stats, "flow_note": inspection.flow_note,
        "ranking": [dict(r, r=round(r["r"], 3)) for r in inspection.ranking],
        "saturation": [{"layer": s.layer, "gate": s.gate,
                        "left": np.round(s.left, 3).tolist(), "right": np.round(s.right, 3).tolist()}
                       for s in inspection.saturation],
        "flow": {k: [float(f"{v:.4g}") for v in values] for k, values in inspection.flow.items()},
        "skipped": list(inspection.skipped),
    }


def render_page(inspection, title: str = "rnnkit inspect") -> str:
    """The whole page as one HTML string."""
    data = json.dumps(page_data(inspection, title), separators=(",", ":"))
    data = data.replace("</", "<\\/")                # never close the script element early
    return (_TEMPLATE.replace("%TITLE%", html.escape(title))
            .replace("%STYLE%", _STYLE).replace("%SCRIPT%", _SCRIPT).replace("%DATA%", data))


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%TITLE%</title>
<style>%STYLE%</style></head>
<body>
<header><h1 id="title"></h1><p id="summary"></p></header>
<main>
<section id="controls">
  <label>units <select id="group"></select></label>
  <label>unit <input id="unit" type="number" min="0" value="0"></label>
  <span id="unit-name"></span>
  <span class="legend"><span class="sw" style="background:rgb(59,76,192)"></span>-1
  <span class="sw" style="background:#fff"></span>0
  <span class="sw" style="background:rgb(180,4,38)"></span>+1</span>
</section>
<section id="ranked"><h2>Units that follow the text</h2>
<p class="note">|Pearson r| of a unit's activation with a property of the text; click to show it.</p>
<ol id="ranking"></ol></section>
<section id="reading"><h2>The text, coloured by the chosen unit</h2>
<p class="note">Hover a token (a character at char level): the unit's value and the model's five
likeliest next tokens.</p>
<div id="text"></div></section>
<div id="tip" hidden></div>
<section id="plots">
<div><h2>Gate saturation</h2><p class="note">Each dot a unit: fraction of steps its gate is
below 0.1 (x) and above 0.9 (y). The chosen unit is ringed.</p><div id="saturation"></div></div>
<div><h2>Gradient flow</h2><p class="note">||dL/dh<sub>t</sub>|| of the top layer for the loss of
the last character, by distance back from it (hand-written BPTT).</p><div id="flow"></div></div>
</section>
</main>
<script id="data" type="application/json">%DATA%</script>
<script>%SCRIPT%</script>
</body></html>
"""

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 16px;color:#222}
h1{font-size:1.4em;margin:.6em 0 .2em}h2{font-size:1.05em;margin:.8em 0 .3em}
.note{color:#666;font-size:.85em;margin:.2em 0}
#controls{display:flex;gap:14px;align-items:center;flex-wrap:wrap;padding:8px 0;
 position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;z-index:2}
#unit{width:6em}.legend{font-size:.85em;color:#555}
.sw{display:inline-block;width:14px;height:14px;border:1px solid #aaa;vertical-align:middle;margin:0 3px}
#ranking{columns:2;font-size:.9em;margin:.2em 0;padding-left:1.6em}
#ranking li{cursor:pointer;padding:1px 0}#ranking li:hover{text-decoration:underline}
#ranking li.on{font-weight:bold}
#text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;line-height:1.5;
 white-space:pre-wrap;border:1px solid #ddd;padding:8px;max-height:60vh;overflow:auto}
#text span{cursor:default}
#tip{position:fixed;background:#fffff4;border:1px solid #999;padding:6px 8px;font-size:12px;
 font-family:ui-monospace,Menlo,Consolas,monospace;pointer-events:none;z-index:3;white-space:pre}
#plots{display:flex;gap:24px;flex-wrap:wrap}#plots>div{flex:1;min-width:320px}
svg text{font-size:11px;fill:#333}
"""

_SCRIPT = r"""
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const raw = atob(D.acts), ACTS = new Int8Array(raw.length);
for (let i = 0; i < raw.length; i++) ACTS[i] = (raw.charCodeAt(i) << 24) >> 24;
const groupSel = document.getElementById("group"), unitIn = document.getElementById("unit");
const textDiv = document.getElementById("text"), tip = document.getElementById("tip");
const PRED = "prediction";
let spans = [];

function show(s) { return s === "\n" ? "\\n" : s === " " ? "\u2423" : s === "\t" ? "\\t" : s; }

function colour(v) {             // v in [-1, 1]: blue - white - red
  const a = Math.min(1, Math.abs(v));
  const end = v < 0 ? [59, 76, 192] : [180, 4, 38];
  const c = end.map(e => Math.round(255 + (e - 255) * a));
  return "rgb(" + c.join(",") + ")";
}

function setup() {
  document.getElementById("title").textContent = D.title;
  document.title = D.title;
  let summary = D.description + " \u00b7 " + D.N + " tokens \u00b7 " + D.stats;
  if (D.skipped.length) summary += " \u00b7 not in the vocabulary, left out: " + D.skipped.join(" ");
  document.getElementById("summary").textContent = summary;
  D.groups.forEach((g, k) => {
    const o = document.createElement("option");
    o.value = String(k); o.textContent = g.name + " (" + g.size + ")";
    groupSel.appendChild(o);
  });
  const p = document.createElement("option");
  p.value = PRED; p.textContent = D.score_label;
  groupSel.appendChild(p);
  const frag = document.createDocumentFragment();
  D.pieces.forEach((piece, i) => {
    const s = document.createElement("span");
    s.textContent = piece; s.dataset.i = String(i);
    frag.appendChild(s); spans.push(s);
  });
  textDiv.appendChild(frag);
  const list = document.getElementById("ranking");
  D.ranking.forEach(r => {
    const li = document.createElement("li");
    li.textContent = r.feature + ": " + unitName(r.unit) + " (r = " + r.r.toFixed(2) + ")";
    li.dataset.unit = String(r.unit);
    li.addEventListener("click", () => choose(r.unit));
    list.appendChild(li);
  });
  groupSel.addEventListener("change", () => { unitIn.value = "0"; recolour(); });
  unitIn.addEventListener("input", recolour);
  unitIn.addEventListener("change", recolour);
  textDiv.addEventListener("mouseover", hover);
  textDiv.addEventListener("mouseleave", () => { tip.hidden = true; });
  window.addEventListener("scroll", () => { tip.hidden = true; }, true);   // the page or the text
  drawFlow();
  choose(D.ranking.length ? D.ranking[0].unit : 0);
}

function groupOf(u) {
  for (let k = 0; k < D.groups.length; k++) {
    const g = D.groups[k];
    if (u >= g.offset && u < g.offset + g.size) return k;
  }
  return 0;
}
function unitName(u) { const g = D.groups[groupOf(u)]; return g.name + " #" + (u - g.offset); }

function choose(u) {
  const k = groupOf(u);
  groupSel.value = String(k);
  unitIn.value = String(u - D.groups[k].offset);
  recolour();
}

function selected() {            // the global unit index, or -1 for the prediction view
  if (groupSel.value === PRED) return -1;
  const g = D.groups[Number(groupSel.value)];
  let j = Math.max(0, Math.min(g.size - 1, Math.floor(Number(unitIn.value) || 0)));
  unitIn.max = String(g.size - 1);
  return g.offset + j;
}

function recolour() {
  const u = selected();
  unitIn.disabled = u < 0;
  for (let i = 0; i < D.N; i++) {
    let v;
    if (u < 0) {
      const p = D.score[i];
      v = p === null ? 0 : D.score_mode === "surprise" ? -(1 - p / 1000) : p / 1000;
    }
    else v = ACTS[i * D.U + u] / 127;
    spans[i].style.backgroundColor = colour(v);
  }
  document.getElementById("unit-name").textContent = u < 0 ? (D.score_mode === "surprise" ?
    "blue: the model gave the next token a low probability" :
    "red: the words the prediction is most sensitive to") : unitName(u);
  document.querySelectorAll("#ranking li").forEach(li =>
    li.classList.toggle("on", Number(li.dataset.unit) === u));
  drawSaturation(u);
}

function hover(ev) {
  const s = ev.target.closest("span[data-i]");
  if (!s) return;
  const i = Number(s.dataset.i), u = selected();
  let lines = ["after " + JSON.stringify(D.pieces[i]) + " (token " + i + ")"];
  if (u >= 0) lines.push(unitName(u) + " = " + (ACTS[i * D.U + u] / 127).toFixed(2));
  if (D.score[i] !== null)
    lines.push(D.score_mode === "surprise" ?
      "actual next " + show(D.pieces[i + 1]) + ": p = " + (D.score[i] / 1000).toFixed(3) :
      D.score_label + " = " + (D.score[i] / 1000).toFixed(3));
  lines.push(D.top_title);
  D.top[i].forEach((t, k) => lines.push("  " + show(D.tokens[t]).padEnd(6) + " " +
    (D.top_p[i][k] / 1000).toFixed(3)));
  tip.textContent = lines.join("\n");
  tip.hidden = false;
  const r = s.getBoundingClientRect();
  tip.style.left = Math.min(r.right + 8, window.innerWidth - 230) + "px";
  tip.style.top = (r.bottom + 4) + "px";
}

const NS = "http://www.w3.org/2000/svg";
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function label(parent, x, y, text, anchor) {
  const t = el("text", {x: x, y: y, "text-anchor": anchor || "middle"}, parent);
  t.textContent = text;
  return t;
}
const GATE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

function drawSaturation(chosen) {
  const box = document.getElementById("saturation");
  box.textContent = "";
  if (!D.saturation.length) { box.textContent = "This cell has no gates."; return; }
  const layers = [...new Set(D.saturation.map(s => s.layer))];
  const chosenLayer = chosen >= 0 ? D.groups[groupOf(chosen)].name.replace(/ (h|cell tanh\(c\))$/, "") : null;
  const chosenUnit = chosen >= 0 ? chosen - D.groups[groupOf(chosen)].offset : -1;
  layers.forEach(layer => {
    const W = 300, H = 260, m = 40, size = 200;
    const svg = el("svg", {width: W, height: H, "data-layer": layer}, box);
    label(svg, m + size / 2, 14, layer);
    el("rect", {x: m, y: 20, width: size, height: size, fill: "none", stroke: "#999"}, svg);
    el("line", {x1: m, y1: 20 + size, x2: m + size, y2: 20, stroke: "#ddd"}, svg);
    label(svg, m + size / 2, 20 + size + 28, "left-saturated (< 0.1)");
    const yl = label(svg, 12, 20 + size / 2, "right-saturated (> 0.9)");
    yl.setAttribute("transform", "rotate(-90 12 " + (20 + size / 2) + ")");
    [0, 0.5, 1].forEach(v => {
      label(svg, m + v * size, 20 + size + 13, String(v));
      label(svg, m - 4, 20 + size - v * size + 4, String(v), "end");
    });
    D.saturation.filter(s => s.layer === layer).forEach((s, k) => {
      const col = GATE_COLOURS[k % GATE_COLOURS.length];
      s.left.forEach((l, j) => {
        const ring = layer === chosenLayer && j === chosenUnit;
        el("circle", {cx: m + l * size, cy: 20 + size - s.right[j] * size, r: ring ? 5 : 2,
          fill: ring ? "none" : col, stroke: ring ? "#000" : "none", "stroke-width": 2,
          "fill-opacity": 0.55, "data-unit": j, "data-gate": s.gate}, svg);
      });
      el("rect", {x: m + size + 10, y: 30 + 16 * k, width: 10, height: 10, fill: col}, svg);
      label(svg, m + size + 24, 39 + 16 * k, s.gate, "start");
    });
  });
}

function drawFlow() {
  const box = document.getElementById("flow");
  const series = Object.keys(D.flow);
  const all = series.flatMap(k => D.flow[k]).filter(v => v > 0);
  if (!all.length) { box.textContent = D.flow_note || "no gradient to show"; return; }
  const W = 420, H = 260, m = 50, w = W - m - 20, h = H - 60;
  let lo = Math.floor(Math.log10(Math.min(...all))), hi = Math.ceil(Math.log10(Math.max(...all)));
  if (hi === lo) hi = lo + 1;
  const n = Math.max(...series.map(k => D.flow[k].length));
  const svg = el("svg", {width: W, height: H}, box);
  el("rect", {x: m, y: 10, width: w, height: h, fill: "none", stroke: "#999"}, svg);
  const X = d => m + (n > 1 ? d / (n - 1) : 0) * w;
  const Y = v => 10 + h - (Math.log10(Math.max(v, Math.pow(10, lo))) - lo) / (hi - lo) * h;
  const step = Math.max(1, Math.ceil((hi - lo) / 6));
  for (let e = lo; e <= hi; e += step) {
    el("line", {x1: m, x2: m + w, y1: Y(Math.pow(10, e)), y2: Y(Math.pow(10, e)), stroke: "#eee"}, svg);
    label(svg, m - 4, Y(Math.pow(10, e)) + 4, "1e" + e, "end");
  }
  [0, Math.floor((n - 1) / 2), n - 1].forEach(d => label(svg, X(d), 10 + h + 14, String(d)));
  label(svg, m + w / 2, 10 + h + 32, "distance from the loss (steps back)");
  const colours = {trained: "#d62728", init: "#1f77b4"};
  series.forEach((k, s) => {
    // a gradient that underflowed to 0 (float32, far from the loss) has no point on a log axis
    const pts = D.flow[k].map((v, d) => v > 0 ? X(d).toFixed(1) + "," + Y(v).toFixed(1) : null)
      .filter(p => p !== null).join(" ");
    el("polyline", {points: pts, fill: "none", stroke: colours[k] || "#333", "stroke-width": 1.5,
      "data-series": k}, svg);
    el("line", {x1: m + w - 120, x2: m + w - 100, y1: 24 + 14 * s, y2: 24 + 14 * s,
      stroke: colours[k] || "#333", "stroke-width": 2}, svg);
    label(svg, m + w - 95, 28 + 14 * s, k === "init" ? "at initialisation" : "trained", "start");
  });
}

setup();
"""
