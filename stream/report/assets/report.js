/* driftline report renderer: plain JavaScript, SVG and one canvas; no network, no library.
 * The data is the JSON in #driftline-data; its column arrays come gzip-compressed and base64
 * encoded in `blob` (layout in `spec`), inflated with the browser's DecompressionStream. */
"use strict";
(async function main() {
  const D = JSON.parse(document.getElementById("driftline-data").textContent);
  const app = document.getElementById("app");
  const tip = document.getElementById("tip");
  const SVGNS = "http://www.w3.org/2000/svg";
  const A = await inflate(D.blob, D.spec);
  const C = D.cohorts.length, F = D.features.length, B = D.columns;
  const T = A.t;
  const per = D.windows > B ? Math.ceil(D.windows / B) : 1;  // windows per column, at most
  const perText = D.windows % B === 0 ? String(per) : `${per - 1}–${per}`;
  const firing = D.alerts.filter(a => a.state === "firing");
  const state = { c: 0, f: 0, col: B - 1 };
  const firstDrift = firing.find(a => a.check === "drift" && a.ci >= 0 && a.fi >= 0);
  if (firstDrift) { state.c = firstDrift.ci; state.f = firstDrift.fi; state.col = firstDrift.col; }
  const runs = D.baselines || [];  // [{w, version, built_at, location}], w = first window
  const baselineAt = w => { let r = null; for (const x of runs) if (x.w <= w) r = x; return r; };
  const baselineText = r => !r || !r.version ? "none" :
    r.version + (r.built_at ? ` (built ${r.built_at.slice(0, 19).replace("T", " ")})` : "");

  async function inflate(b64, spec) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const buf = await new Response(stream).arrayBuffer();
    const types = { uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, float32: Float32Array,
      float64: Float64Array };
    const out = {};
    for (const [name, [dtype, off, len]] of Object.entries(spec)) {
      out[name] = new types[dtype](buf, off, len);
    }
    return out;
  }

  // -- accessors ------------------------------------------------------------------------
  const cell = (c, f, b) => (c * F + f) * B + b;
  const score = (c, f, b) => { const q = A.score[cell(c, f, b)]; return q === 65535 ? NaN : q * 1e-4; };
  const pval = (c, f, b) => { const q = A.p[cell(c, f, b)]; return q === 255 ? NaN : Math.pow(10, -q / 10); };
  const status = (c, f, b) => A.status[cell(c, f, b)];
  const events = (c, b) => A.n[c * B + b];
  const STATUS = ["no data", "insufficient data", "ok", "drift"];
  const thr = f => D.thresholds[f] || {};

  // -- formatting -----------------------------------------------------------------------
  const iso = t => (t === null || t === undefined) ? "–" :
    new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ") + "Z";
  const fmt = (x, d = 4) => (x === null || x === undefined || Number.isNaN(x)) ? "–" :
    (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3)) ? x.toExponential(2) :
      (+x.toFixed(d)).toString();
  const fmtP = p => Number.isNaN(p) ? "–" : (p >= 0.999 ? "≈1" : "≈" + p.toExponential(1));
  const pct = x => (x === null || x === undefined) ? "–" : (100 * x).toFixed(1) + "%";
  const colTime = b => T[Math.max(0, Math.min(B - 1, b))];
  const colLabel = b => per > 1 ? `${iso(colTime(b))} (${A.wpc[b]} windows)` : iso(colTime(b));

  function el(tag, attrs = {}, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  function svg(tag, attrs = {}) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }
  function section(id, title, note) {
    const s = el("section", { id, "data-section": id }, el("h2", { text: title }));
    if (note) s.append(el("p", { class: "note", text: note }));
    app.append(s);
    return s;
  }
  function showTip(ev, html) {
    tip.hidden = false; tip.innerHTML = html;
    const x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    tip.style.left = x + "px"; tip.style.top = (ev.clientY + 14) + "px";
  }
  const hideTip = () => { tip.hidden = true; };
  const esc = s => String(s).replace(/[&<>"]/g, ch => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);

  document.getElementById("loading").remove();

  // -- 1. summary -----------------------------------------------------------------------
  function renderSummary() {
    const s = section("summary", "Summary");
    const inp = D.input || {};
    const dl = inp.dead_letters || {};
    const dlTotal = Object.values(dl).reduce((a, b) => a + b, 0);
    let total = 0; for (let b = 0; b < B; b++) total += events(0, b) || 0;
    const crit = firing.filter(a => a.severity === "critical").length;
    const stats = [
      ["monitor", D.monitor], ["from", iso(D.start)], ["to", iso(D.end)],
      ["windows", `${D.windows} × ${D.tier ?? "–"}` + (per > 1 ? ` (${perText} per column)` : "")],
      ["events in windows", total.toLocaleString("en")],
      ["input events", inp.events === undefined ? "–" : inp.events.toLocaleString("en")],
      ["dead letters", dlTotal.toLocaleString("en")], ["late events", inp.late ?? "–"],
      ["alerts fired", `${firing.length} (${crit} critical)`],
      ["features × cohorts", `${F} × ${C}`], ["source", D.source],
      ["baseline", runs.length ? [...new Set(runs.map(r => r.version || "none"))].join(" → ") : "–"],
    ];
    s.append(el("div", { class: "stats" }, ...stats.map(([k, v]) =>
      el("div", { class: "stat" }, el("b", { text: String(v) }), el("span", { text: k })))));
    if (dlTotal) {
      s.append(el("p", { text: "Dead letters by reason: " + Object.entries(dl)
        .map(([r, n]) => `${r} ${n}`).join(", ") }));
    }
    for (const n of D.notes) s.append(el("p", { class: "note", text: n }));
    s.append(el("h3", { text: "What fired" }));
    if (!firing.length) { s.append(el("p", { class: "empty", text: "No alert fired." })); return; }
    const tbl = el("table", {}, el("tr", {}, ...["when (window end)", "check", "feature", "where",
      "window", "severity", "value", "threshold", "p-value", "baseline"].map(h => el("th", { text: h }))));
    const rows = firing.slice().sort((a, b) => a.window_end - b.window_end);
    for (const a of rows.slice(0, 300)) {
      const tr = el("tr", { class: "click alert-row", onclick: () => {
        if (a.ci >= 0) setCohort(a.ci);
        if (a.fi >= 0) select(a.fi, a.col, true);
      } }, ...[iso(a.window_end), `${a.check}/${a.metric}`, a.feature || "–",
        `${a.segment}=${a.cohort}`, a.window || "–"].map(v => el("td", { text: v })),
      el("td", { class: "sev-" + a.severity, text: a.severity }),
      el("td", { text: fmt(a.value) }), el("td", { text: fmt(a.threshold) }),
      el("td", { text: a.p_value === null || a.p_value === undefined ? "–" : fmtP(a.p_value) }),
      el("td", { class: "alert-baseline", text: a.baseline || "–" }));
      tbl.append(tr);
    }
    s.append(tbl);
    if (rows.length > 300) s.append(el("p", { class: "note", text: `… and ${rows.length - 300} more` }));
  }

  // -- 2. heatmap -----------------------------------------------------------------------
  let heatCanvas, heatWidth;
  const ROW = 14;
  function color(c, f, b) {
    const st = status(c, f, b);
    if (st === 0) return "#eceff1";
    if (st === 1) return "#cfd8dc";
    const s = score(c, f, b), t = thr(f), w = t.warning ?? t.critical ?? 0.1;
    const r = Number.isNaN(s) ? 0 : Math.min(s / w, 3);
    if (st === 3) return r >= ((t.critical ?? Infinity) / w) ? "#c62828" : "#ef6c00";
    const k = Math.min(r, 1);  // ok: light green, turning yellow as the score nears warning
    return `rgb(${Math.round(165 + 90 * k)},${Math.round(214 + 27 * k)},${Math.round(167 - 49 * k)})`;
  }
  function renderHeatmap() {
    const s = section("heatmap", "Drift over time",
      `Rows: features; columns: ${B} time columns` + (per > 1 ? ` of ${perText} windows each (the worst window shown)` : " (one per window") +
      (per > 1 ? "" : ")") + `. Status of the ${D.tier} windows for the chosen cohort; click a cell for its distribution.`);
    const sel = el("select", { id: "cohort-select", onchange: e => setCohort(+e.target.value) },
      ...D.cohorts.map((c, i) => el("option", { value: i, text: c })));
    sel.value = state.c;
    s.append(el("div", { class: "controls" }, el("label", { text: "Cohort " }, sel),
      el("span", { class: "legend" }, ...[["#eceff1", "no data"], ["#cfd8dc", "insufficient data"],
        ["rgb(165,214,167)", "ok"], ["rgb(255,241,118)", "ok, near warning"], ["#ef6c00", "drift (warning)"], ["#c62828", "drift (critical)"]]
        .flatMap(([c, t]) => [el("span", { style: `background:${c}` }), t]))));
    const names = el("div", { class: "names" }, ...D.features.map((f, i) =>
      el("div", { text: f[0], onclick: () => select(i, state.col, true) })));
    heatWidth = Math.max(300, Math.min(1200, app.clientWidth - 200));
    heatCanvas = el("canvas", { id: "heatmap-canvas", width: heatWidth, height: F * ROW });
    heatCanvas.addEventListener("mousemove", ev => {
      const { b, f } = heatAt(ev);
      showTip(ev, `<b>${esc(D.features[f][0])}</b> · ${esc(D.cohorts[state.c])}<br>${colLabel(b)}<br>` +
        `${D.features[f][2]} ${fmt(score(state.c, f, b))} · p ${fmtP(pval(state.c, f, b))}<br>` +
        `${STATUS[status(state.c, f, b)]} · ${events(state.c, b).toLocaleString("en")} events`);
    });
    heatCanvas.addEventListener("mouseleave", hideTip);
    heatCanvas.addEventListener("click", ev => { const { b, f } = heatAt(ev); select(f, b, true); });
    s.append(el("div", { class: "heat" }, names, heatCanvas));
    s.append(el("div", { class: "note", text: `${iso(colTime(0))} … ${iso(D.end)}` }));
    drawHeatmap();
  }
  function heatAt(ev) {
    const r = heatCanvas.getBoundingClientRect();
    const b = Math.min(B - 1, Math.max(0, Math.floor((ev.clientX - r.left) / r.width * B)));
    const f = Math.min(F - 1, Math.max(0, Math.floor((ev.clientY - r.top) / ROW)));
    return { b, f };
  }
  function drawHeatmap() {
    const ctx = heatCanvas.getContext("2d");
    const w = heatWidth / B;
    ctx.clearRect(0, 0, heatWidth, F * ROW);
    for (let f = 0; f < F; f++) {
      for (let b = 0; b < B; b++) {
        ctx.fillStyle = color(state.c, f, b);
        ctx.fillRect(Math.floor(b * w), f * ROW, Math.max(1, Math.ceil(w)), ROW - 1);
      }
    }
    ctx.strokeStyle = "#263238"; ctx.lineWidth = 2;
    ctx.strokeRect(Math.floor(state.col * w), state.f * ROW, Math.max(2, Math.ceil(w)), ROW - 1);
  }

  // -- 3. features: timelines and the distribution of a chosen window --------------------
  const CW = 420, CH = 120, PAD = 28;
  let featureBox, distBox;
  function renderFeatures() {
    const s = section("features", "Features: drift score against thresholds",
      "Line: the drift score per column for the chosen cohort; dashed: warning (amber) and critical (red) " +
      "thresholds; dots: alerts that fired. Hover for p-values, click for the distribution.");
    distBox = el("div", { id: "distribution" });
    featureBox = el("div", { class: "grid" });
    s.append(distBox, featureBox);
    drawFeatures();
  }
  function drawFeatures() {
    featureBox.replaceChildren(...D.features.map((_, f) => featureChart(f)));
    drawDistribution();
  }
  function featureChart(f) {
    const [name, type, metric] = D.features[f];
    const t = thr(f);
    const ys = new Float64Array(B);
    let max = Math.max(t.critical ?? 0, t.warning ?? 0, 1e-6);
    for (let b = 0; b < B; b++) { ys[b] = score(state.c, f, b); if (ys[b] > max) max = ys[b]; }
    max *= 1.1;
    const x = b => PAD + (B === 1 ? 0.5 : b / (B - 1)) * (CW - PAD - 6);
    const y = v => CH - 14 - (v / max) * (CH - 24);
    const g = svg("svg", { width: CW, height: CH, viewBox: `0 0 ${CW} ${CH}` });
    g.append(svg("line", { x1: PAD, x2: CW - 6, y1: y(0), y2: y(0), stroke: "#ccc" }));
    for (const [tv, col] of [[t.warning, "#f0a30a"], [t.critical, "#d32f2f"]]) {
      if (tv === null || tv === undefined) continue;
      g.append(svg("line", { class: "threshold", x1: PAD, x2: CW - 6, y1: y(tv), y2: y(tv),
        stroke: col, "stroke-dasharray": "4 3" }));
    }
    const lab = svg("text", { x: 2, y: 10 }); lab.textContent = fmt(max / 1.1, 3); g.append(lab);
    let d = "", pen = false;
    for (let b = 0; b < B; b++) {
      if (Number.isNaN(ys[b])) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(b).toFixed(1) + " " + y(ys[b]).toFixed(1); pen = true;
    }
    g.append(svg("path", { class: "score-line", d, fill: "none", stroke: "#37474f", "stroke-width": 1.2 }));
    if (B === 1 && !Number.isNaN(ys[0])) g.append(svg("circle", { cx: x(0), cy: y(ys[0]), r: 2 }));
    for (const a of firing) {
      if (a.check !== "drift" || a.fi !== f || a.ci !== state.c) continue;
      const m = svg("circle", { class: "alert-marker", "data-severity": a.severity,
        cx: x(a.col), cy: y(Math.min(a.value ?? 0, max)), r: 5,
        fill: a.severity === "critical" ? "#d32f2f" : "#f0a30a" });
      m.addEventListener("mousemove", ev => { ev.stopPropagation(); showTip(ev,
        `<b>${a.severity} ${esc(a.check)}/${esc(a.metric)}</b> ${esc(a.window || "")}<br>` +
        `${esc(name)} · ${esc(a.segment)}=${esc(a.cohort)}<br>window end ${iso(a.window_end)}<br>` +
        `value ${fmt(a.value)} ≥ ${fmt(a.threshold)} · p ${a.p_value == null ? "–" : fmtP(a.p_value)}`); });
      g.append(m);
    }
    if (f === state.f) g.append(svg("line", { x1: x(state.col), x2: x(state.col), y1: 4, y2: CH - 14,
      stroke: "#ff7043", "stroke-width": 1 }));
    const t0 = svg("text", { x: PAD, y: CH - 2 }); t0.textContent = iso(colTime(0)); g.append(t0);
    const t1 = svg("text", { x: CW - 6, y: CH - 2, "text-anchor": "end" }); t1.textContent = iso(colTime(B - 1)); g.append(t1);
    const colAt = ev => { const r = g.getBoundingClientRect();
      const fx = (ev.clientX - r.left) * CW / r.width;
      return Math.max(0, Math.min(B - 1, Math.round((fx - PAD) / (CW - PAD - 6) * (B - 1)))); };
    g.addEventListener("mousemove", ev => { const b = colAt(ev);
      showTip(ev, `<b>${esc(name)}</b> · ${colLabel(b)}<br>${metric} ${fmt(ys[b])} · p-value ${fmtP(pval(state.c, f, b))}` +
        `<br>${STATUS[status(state.c, f, b)]} · ${events(state.c, b)} events`); });
    g.addEventListener("mouseleave", hideTip);
    g.addEventListener("click", ev => select(f, colAt(ev), false));
    const head = el("h3", {}, el("span", { text: name }),
      el("small", { text: `${type} · ${metric} · warning ${fmt(t.warning)} · critical ${fmt(t.critical)}` }));
    return el("div", { class: "feature-chart" + (f === state.f ? " selected" : ""), "data-feature": name }, head, g);
  }
  function nearestDistribution(c, f, col) {
    let best = null, bestD = Infinity;
    for (const d of D.distributions) {
      if (d.c !== c || d.f !== f) continue;
      const dist = Math.abs(colOfWindow(d.w) - col) * 1e6 + Math.abs(d.w);
      if (dist < bestD) { best = d; bestD = dist; }
    }
    return best;
  }
  const colOfWindow = w => Math.floor(w * B / Math.max(D.windows, 1));
  function drawDistribution() {
    const c = state.c, f = state.f, [name] = D.features[f];
    const d = nearestDistribution(c, f, state.col);
    distBox.replaceChildren(el("h3", { text: `Distribution of ${name} · ${D.cohorts[c]}` }));
    if (!d) { distBox.append(el("p", { class: "empty", text: "No distribution kept for this feature and cohort." })); return; }
    const exact = colOfWindow(d.w) === state.col;
    distBox.append(el("p", { class: "note", text: `Window starting ${iso(d.t)}` +
      (exact ? "" : " (the nearest window with a distribution kept in this report)") +
      `: baseline (blue) vs this window (orange)` + (d.e ? `; each share is within ±${pct(d.e)} (sketch bound)` : "") }));
    if (runs.length) distBox.append(el("p", { id: "window-baseline", class: "note",
      text: `Baseline ${baselineText(baselineAt(d.w))}` }));
    if (d.b) {
      const labels = D.label_sets[d.l], n = labels.length;
      const L = 70;
      const W = Math.max(420, Math.min(1100, n * 46)), H = 170, bw = (W - L - 4) / n;
      const top = Math.max(...d.b, ...d.x, 1e-9) * 1.1;
      const g = svg("svg", { id: "distribution-chart", width: W, height: H + 70 });
      labels.forEach((lab, i) => {
        for (const [k, v, col] of [[0, d.b[i], "#5c6bc0"], [1, d.x[i], "#ff7043"]]) {
          const h = (v ?? 0) / top * H;
          const r = svg("rect", { class: k ? "bar-current" : "bar-baseline", x: L + i * bw + k * bw * 0.42,
            y: H - h + 4, width: bw * 0.4, height: Math.max(h, 0.5), fill: col });
          r.addEventListener("mousemove", ev => showTip(ev, `${esc(lab)}<br>baseline ${pct(d.b[i])} · window ${pct(d.x[i])}`));
          r.addEventListener("mouseleave", hideTip);
          g.append(r);
        }
        const tx = svg("text", { x: L + (i + 0.4) * bw, y: H + 14, "text-anchor": "end",
          transform: `rotate(-30 ${L + (i + 0.4) * bw} ${H + 14})` });
        const short = lab.replace(/-?\d+\.\d+(e[-+]?\d+)?/g, m => String(+(+m).toPrecision(3)));
        tx.textContent = short.length > 18 ? short.slice(0, 17) + "…" : short; g.append(tx);
      });
      const ax = svg("text", { x: 0, y: 12 }); ax.textContent = pct(top / 1.1); g.append(ax);
      distBox.append(g);
    }
    if (d.qb) {
      distBox.append(el("table", { class: "quantiles" }, el("tr", {}, el("th", { text: "quantile" }),
        ...D.quantile_levels.map(q => el("th", { text: "p" + Math.round(q * 100) }))),
      el("tr", {}, el("td", { text: "baseline" }), ...d.qb.map(v => el("td", { text: fmt(v) }))),
      el("tr", {}, el("td", { text: "window" }), ...d.qc.map(v => el("td", { text: fmt(v) })))));
    }
  }

  // -- 4. data quality and volume ---------------------------------------------------------
  let qualityBox;
  function lineChart(series, { width = 1000, height = 150, yMax = null, fmtY = fmt } = {}) {
    const g = svg("svg", { width, height, class: "line-chart" });
    let max = yMax ?? 0;
    if (yMax === null) for (const s of series) for (const v of s.values) if (v > max) max = v;
    max = max > 0 ? max * 1.05 : 1;
    const x = b => 40 + (B === 1 ? 0.5 : b / (B - 1)) * (width - 50);
    const y = v => height - 16 - v / max * (height - 26);
    g.append(svg("line", { x1: 40, x2: width - 10, y1: y(0), y2: y(0), stroke: "#ccc" }));
    const lab = svg("text", { x: 0, y: 12 }); lab.textContent = fmtY(max / 1.05); g.append(lab);
    for (const s of series) {
      let d = "", pen = false;
      s.values.forEach((v, b) => { if (!Number.isFinite(v)) { pen = false; return; }
        d += (pen ? "L" : "M") + x(b).toFixed(1) + " " + y(v).toFixed(1); pen = true; });
      const p = svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 1.4,
        "stroke-dasharray": s.dash || "" });
      const t = svg("title"); t.textContent = s.name; p.append(t); g.append(p);
    }
    const t0 = svg("text", { x: 40, y: height - 2 }); t0.textContent = iso(colTime(0)); g.append(t0);
    const t1 = svg("text", { x: width - 10, y: height - 2, "text-anchor": "end" }); t1.textContent = iso(colTime(B - 1)); g.append(t1);
    g.addEventListener("mousemove", ev => { const r = g.getBoundingClientRect();
      const b = Math.max(0, Math.min(B - 1, Math.round(((ev.clientX - r.left) - 40) / (width - 50) * (B - 1))));
      showTip(ev, `${colLabel(b)}<br>` + series.map(s => `${esc(s.name)}: ${fmtY(s.values[b])}`).join("<br>")); });
    g.addEventListener("mouseleave", hideTip);
    return g;
  }
  const PALETTE = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#3949ab", "#c0ca33", "#d81b60"];
  function renderQuality() {
    const s = section("quality", "Data quality and volume",
      "Quality ratios per feature (the largest window of each column) and events per window, for the chosen cohort.");
    qualityBox = el("div"); s.append(qualityBox); drawQuality();
  }
  function drawQuality() {
    const series = [];
    for (const key of Object.keys(A).filter(k => k.startsWith("q:"))) {
      const rows = A["qi:" + key.slice(2)];  // the (cohort, feature) rows stored, in order
      rows.forEach((row, i) => {
        const c = Math.floor(row / F), f = row % F;
        if (c !== state.c) return;
        const arr = A[key].subarray(i * B, (i + 1) * B);
        let mx = 0; for (const v of arr) if (v > mx) mx = v;
        if (mx > 0) series.push({ name: `${D.features[f][0]} ${key.slice(2)}`, values: arr, max: mx });
      });
    }
    series.sort((a, b) => b.max - a.max);
    series.forEach((s, i) => { s.color = PALETTE[i % PALETTE.length]; });
    qualityBox.replaceChildren();
    if (series.length) {
      qualityBox.append(el("p", { text: "Ratios above zero: " + series.slice(0, 10)
        .map(s => `${s.name} (max ${pct(s.max)})`).join(", ") }),
        lineChart(series.slice(0, 10), { fmtY: pct }));
    } else qualityBox.append(el("p", { class: "empty", text: `Every quality ratio was 0 in every window of ${D.cohorts[state.c]}.` }));
    qualityBox.append(el("h3", { text: `Events per window · ${D.cohorts[state.c]}` + (per > 1 ? " (mean of each column)" : "") }),
      lineChart([{ name: "events per window", values: Array.from({ length: B }, (_, b) => events(state.c, b) / Math.max(A.wpc[b], 1)), color: "#546e7a" }],
        { fmtY: v => Number.isFinite(v) ? Math.round(v).toLocaleString("en") : "–" }));
  }

  // -- 5. freshness -----------------------------------------------------------------------
  let freshBox;
  function renderFreshness() {
    const s = section("freshness", "Freshness",
      "When each feature last had values in the chosen cohort, and the windows with events but no value of the feature.");
    freshBox = el("div"); s.append(freshBox); drawFreshness();
  }
  function drawFreshness() {
    const c = state.c;
    const ws = D.window_seconds;
    const rows = D.features.map(([name], f) => {
      const last = D.last_seen[c][f];
      const lastT = last < 0 ? null : D.start + last * ws;
      const behind = last < 0 ? "never" : `${Math.round((D.end - (lastT + ws)) / 60)} min`;
      return el("tr", {}, el("td", { text: name }), el("td", { text: last < 0 ? "never" : iso(lastT + ws) }),
        el("td", { text: behind }), el("td", { text: String(D.empty_windows[c][f]) }));
    });
    const fresh = D.alerts.filter(a => a.check === "freshness");
    freshBox.replaceChildren(el("table", {}, el("tr", {}, ...["feature", "last value by", "before the end",
      "windows without values"].map(h => el("th", { text: h }))), ...rows));
    freshBox.append(el("h3", { text: "Freshness alerts" }), fresh.length ? el("table", {},
      ...fresh.map(a => el("tr", {}, ...[iso(a.window_end), a.feature, a.severity, a.state, fmt(a.value)]
        .map(v => el("td", { text: String(v) }))))) :
      el("p", { class: "empty", text: "No freshness alert in this report." }));
  }

  // -- 6. model quality -------------------------------------------------------------------
  let perfBox;
  function renderModelQuality() {
    const keys = Object.keys(A).filter(k => k.startsWith("s:perf:"));
    const s = section("model-quality", "Model quality", keys.length ?
      "Realized (from labels, solid) vs estimated (dashed) performance and label coverage, for the chosen cohort." : null);
    perfBox = el("div"); s.append(perfBox);
    if (!keys.length) { perfBox.append(el("p", { class: "empty", text: "No model-quality entries in this report (no labels configured)." })); return; }
    drawModelQuality();
  }
  function drawModelQuality() {
    const keys = Object.keys(A).filter(k => k.startsWith("s:perf:"));
    if (!keys.length) return;
    const row = k => A[k].subarray(state.c * B, state.c * B + B);
    const metrics = [...new Set(keys.filter(k => /^s:perf:(realized|estimated):/.test(k)).map(k => k.split(":").slice(3).join(":")))];
    perfBox.replaceChildren();
    metrics.forEach((m, i) => {
      const series = [];
      if (A["s:perf:realized:" + m]) series.push({ name: `realized ${m}`, values: row("s:perf:realized:" + m), color: PALETTE[i % 10] });
      if (A["s:perf:estimated:" + m]) series.push({ name: `estimated ${m}`, values: row("s:perf:estimated:" + m), color: PALETTE[i % 10], dash: "5 3" });
      perfBox.append(el("h3", { text: m }), el("div", { class: "perf-chart", "data-metric": m }, lineChart(series)));
    });
    if (A["s:perf:coverage"]) {
      perfBox.append(el("h3", { text: "label coverage" }),
        lineChart([{ name: "coverage", values: row("s:perf:coverage"), color: "#546e7a" }], { yMax: 1, fmtY: pct }));
    }
  }

  // -- interaction ------------------------------------------------------------------------
  window.driftlineSetCohort = c => setCohort(c);  // for tests and benchmarks
  function setCohort(c) {
    state.c = c; document.getElementById("cohort-select").value = c;
    drawHeatmap(); drawFeatures(); drawQuality(); drawFreshness(); drawModelQuality();
  }
  function select(f, col, scroll) {
    state.f = f; state.col = col; drawHeatmap(); drawFeatures();
    if (scroll) distBox.scrollIntoView({ block: "start" });
  }

  renderSummary();
  if (!D.windows || !F || !C) {  // nothing was evaluated: say so in every section
    for (const [id, title] of [["heatmap", "Drift over time"], ["features", "Features"],
      ["quality", "Data quality and volume"], ["freshness", "Freshness"], ["model-quality", "Model quality"]]) {
      section(id, title).append(el("p", { class: "empty", text: "No evaluated window in this report." }));
    }
  } else {
    renderHeatmap(); renderFeatures(); renderQuality(); renderFreshness(); renderModelQuality();
  }
  document.body.dataset.renderMs = performance.now().toFixed(0);
  document.body.dataset.rendered = "true";
})().catch(err => {
  console.error(err);
  const p = document.createElement("p");
  p.textContent = "The report could not be rendered: " + err;
  document.getElementById("app").append(p);
});
