// fsl live dashboard: polls /status, /history, /checkpoints and /evaluation
// and draws the curves on plain canvases. No libraries, no network beyond
// this coordinator.
"use strict";

(function () {
  const POLL_MS = 1000;
  const SMOOTHING = 0.9; // weight of the exponential moving average, as TensorBoard's slider
  const ETA_WINDOW = 200; // live steps the ETA's rate is measured over
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];
  const $ = (id) => document.getElementById(id);

  // Errors of this script land in a DOM attribute as well as the console,
  // so a headless check with --dump-dom sees them.
  function recordError(msg) {
    const b = document.body;
    b.dataset.errors = (b.dataset.errors ? b.dataset.errors + " | " : "") + msg;
  }
  window.addEventListener("error", (e) => recordError(String(e.message)));
  window.addEventListener("unhandledrejection", (e) => recordError(String(e.reason)));

  const finite = (x) => typeof x === "number" && isFinite(x);

  // fmt writes x with at most digits decimals and no trailing zeros:
  // 3 not "3.000", 0.25 not "0.250"; very small or large values in
  // exponent form.
  function fmt(x, digits) {
    if (!finite(x)) return "–";
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-4 || a >= 1e7)) return x.toExponential(2).replace(/\.?0+e/, "e");
    let s = x.toFixed(digits);
    if (s.indexOf(".") >= 0) s = s.replace(/\.?0+$/, "");
    if (a >= 1e4) s = Number(s).toLocaleString("en-US");
    return s === "-0" ? "0" : s;
  }

  function fmtDuration(s) {
    if (!finite(s) || s < 0) return "–";
    if (s < 60) return Math.round(s) + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + Math.floor(s % 60) + " s";
    const h = Math.floor(m / 60);
    if (h < 48) return h + " h " + (m % 60) + " min";
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  function fmtBytes(n) {
    if (!finite(n)) return "–";
    if (n < 1024) return n + " B";
    if (n < 1 << 20) return fmt(n / 1024, 1) + " KiB";
    return fmt(n / (1 << 20), 1) + " MiB";
  }

  function ago(iso) {
    const t = Date.parse(iso);
    if (!finite(t) || t <= 0) return "–";
    return fmtDuration(Math.max(0, (Date.now() - t) / 1000)) + " ago";
  }

  // niceTicks returns about n round values spanning [lo, hi] (steps of 1, 2
  // or 5 times a power of ten) and their spacing.
  function niceTicks(lo, hi, n, integer) {
    const span = hi - lo;
    if (!(span > 0)) return { ticks: [lo], step: 1 };
    const raw = span / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    let step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw);
    if (integer) step = Math.max(1, Math.round(step));
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
    return { ticks, step };
  }

  // tickLabel writes a tick with just the decimals its spacing needs.
  function tickLabel(v, step) {
    return fmt(v, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
  }

  // logTicks returns powers of ten in [lo, hi], with 2 and 5 times them
  // when the range spans less than two decades.
  function logTicks(lo, hi) {
    const ticks = [];
    const few = Math.log10(hi / lo) < 2;
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const k of few ? [1, 2, 5] : [1]) {
        const v = k * Math.pow(10, e);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
      }
    }
    return ticks;
  }

  // ema smooths points [[x, y], ...] with TensorBoard's debiased
  // exponential moving average.
  function ema(points, w) {
    let last = 0, weight = 0;
    return points.map(([x, y]) => {
      last = last * w + (1 - w) * y;
      weight = weight * w + (1 - w);
      return [x, last / weight];
    });
  }

  // charts keeps each canvas's last series and options, to redraw it with
  // the hover marker.
  const charts = {};

  // drawChart plots series on the canvas: [{label, points: [[x, y], ...],
  // band: [[x, lo, hi], ...], faint}], faint series drawn light and left out
  // of the hover and of the data-points attribute (the points plotted).
  // opts: {log, yMin, empty, hoverX, select: [x0, x1] being dragged}. Only
  // the steps in the zoomed range (view()) are drawn.
  function drawChart(canvas, series, opts) {
    charts[canvas.id] = { series, opts };
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 400, h = canvas.clientHeight || 220;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pad = { l: 58, r: 14, t: 22, b: 26 };
    const log = !!opts.log;
    const v = view();
    const inView = (p) => (v.from === undefined || p[0] >= v.from) && (v.to === undefined || p[0] <= v.to);
    const usable = (p) => finite(p[1]) && (!log || p[1] > 0) && inView(p);
    series = series.map((s) => Object.assign({}, s, { points: s.points.filter(usable), band: s.band && s.band.filter(inView) }));
    const main = series.filter((s) => !s.faint);
    canvas.dataset.points = String(main.reduce((n, s) => n + s.points.length, 0));
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#6b7586";
    const pts = series.flatMap((s) => s.points);
    const band = series.flatMap((s) => s.band || []);
    if (pts.length === 0) {
      ctx.fillText(opts.empty || "no data yet", pad.l, h / 2);
      charts[canvas.id].map = null;
      return;
    }
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    let ys = pts.map((p) => p[1]).concat(band.flatMap((b) => [b[1], b[2]]).filter((y) => finite(y) && (!log || y > 0)));
    let y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (!log && opts.yMin !== undefined) y0 = Math.min(y0, opts.yMin);
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { const d = Math.abs(y0) * 0.1 || 1; y0 = log ? y0 / 2 : y0 - d; y1 = log ? y1 * 2 : y1 + d; }
    const ty = log ? Math.log10 : (y) => y;
    const px = (x) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
    const py = (y) => h - pad.b - ((ty(y) - ty(y0)) / (ty(y1) - ty(y0))) * (h - pad.t - pad.b);

    ctx.strokeStyle = "#e7eaee";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    // The axis labels drawn are also written to data-y-ticks and
    // data-x-ticks, for a headless check of what the canvas shows.
    const yLabels = [];
    if (log) {
      for (const v of logTicks(y0, y1)) {
        ctx.beginPath(); ctx.moveTo(pad.l, py(v)); ctx.lineTo(w - pad.r, py(v)); ctx.stroke();
        yLabels.push(fmt(v, 4));
        ctx.fillText(yLabels[yLabels.length - 1], pad.l - 6, py(v));
      }
    } else {
      const { ticks, step } = niceTicks(y0, y1, 4, false);
      for (const v of ticks) {
        ctx.beginPath(); ctx.moveTo(pad.l, py(v)); ctx.lineTo(w - pad.r, py(v)); ctx.stroke();
        yLabels.push(tickLabel(v, step));
        ctx.fillText(yLabels[yLabels.length - 1], pad.l - 6, py(v));
      }
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const xt = niceTicks(x0, x1, 6, true);
    const xLabels = xt.ticks.map((v) => tickLabel(v, xt.step));
    xt.ticks.forEach((v, i) => ctx.fillText(xLabels[i], px(v), h - pad.b + 6));
    canvas.dataset.yTicks = yLabels.join(" ");
    canvas.dataset.xTicks = xLabels.join(" ");

    series.forEach((s, i) => {
      const color = s.color || COLORS[i % COLORS.length];
      if (s.band && s.band.length) {
        const b = s.band.filter((p) => finite(p[1]) && finite(p[2]) && (!log || p[1] > 0));
        ctx.fillStyle = color + "26"; // the line's colour, 15% opaque
        ctx.beginPath();
        b.forEach((p, j) => (j === 0 ? ctx.moveTo(px(p[0]), py(p[2])) : ctx.lineTo(px(p[0]), py(p[2]))));
        for (let j = b.length - 1; j >= 0; j--) ctx.lineTo(px(b[j][0]), py(b[j][1]));
        ctx.closePath();
        ctx.fill();
      }
      if (s.points.length === 0) return;
      ctx.strokeStyle = ctx.fillStyle = s.faint ? color + "40" : color;
      ctx.lineWidth = s.faint ? 1 : 1.6;
      ctx.beginPath();
      s.points.forEach((p, j) => (j === 0 ? ctx.moveTo(px(p[0]), py(p[1])) : ctx.lineTo(px(p[0]), py(p[1]))));
      ctx.stroke();
      if (!s.faint && s.points.length < 60) {
        for (const p of s.points) { ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), 2.5, 0, 2 * Math.PI); ctx.fill(); }
      }
    });
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    let lx = pad.l + 4;
    main.forEach((s, i) => {
      if (!s.label || main.length < 2 && !s.band) return;
      ctx.fillStyle = s.color || COLORS[series.indexOf(s) % COLORS.length];
      ctx.fillText(s.label, lx, 4);
      lx += ctx.measureText(s.label).width + 16;
    });
    charts[canvas.id].map = { px, x0, x1, pad, w, h, main, py };

    if (opts.select) {
      const a = Math.max(pad.l, Math.min(px(opts.select[0]), px(opts.select[1])));
      const b = Math.min(w - pad.r, Math.max(px(opts.select[0]), px(opts.select[1])));
      ctx.fillStyle = "rgba(37, 99, 235, .12)";
      ctx.fillRect(a, pad.t, b - a, h - pad.t - pad.b);
    }
    const markX = opts.hoverX !== undefined ? opts.hoverX : view().step;
    if (markX !== undefined) {
      const near = nearest(main, markX);
      if (near.length) {
        const x = near[0].p[0];
        ctx.strokeStyle = "#9aa3b2";
        ctx.beginPath(); ctx.moveTo(px(x), pad.t); ctx.lineTo(px(x), h - pad.b); ctx.stroke();
        for (const n of near) {
          ctx.fillStyle = n.s.color || COLORS[series.indexOf(n.s) % COLORS.length];
          ctx.beginPath(); ctx.arc(px(n.p[0]), py(n.p[1]), 3.5, 0, 2 * Math.PI); ctx.fill();
        }
      }
    }
  }

  // nearest returns, for each series, its point closest in x to x.
  function nearest(series, x) {
    const out = [];
    for (const s of series) {
      const p = s.points;
      if (!p.length) continue;
      let lo = 0, hi = p.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (p[mid][0] < x) lo = mid + 1; else hi = mid;
      }
      if (lo > 0 && Math.abs(p[lo - 1][0] - x) <= Math.abs(p[lo][0] - x)) lo--;
      out.push({ s, p: p[lo], i: lo });
    }
    return out;
  }

  // valuesAt describes the chart's series at the point nearest step x:
  // ["step N", "label: value ± ci", ...], [] when it has no points.
  function valuesAt(id, x) {
    const c = charts[id];
    if (!c || !c.map) return [];
    const near = nearest(c.map.main, x);
    if (!near.length) return [];
    const lines = ["step " + near[0].p[0]];
    for (const n of near) {
      let line = (n.s.label || "value") + ": " + fmt(n.p[1], 4);
      const b = n.s.band && n.s.band.find((q) => q[0] === n.p[0]);
      if (b) line += " ± " + fmt(b[2] - n.p[1], 4);
      lines.push(line);
    }
    return lines;
  }

  // The view lives in the address, so it can be shared and survives a
  // reload: #step=N pins a step (a click on a chart), every chart marks it
  // and the readout lists their values there; #from=A&to=B zooms the charts
  // to steps A..B (a drag across a chart; a double-click resets).
  function view() {
    const v = {};
    for (const part of location.hash.replace(/^#/, "").split("&")) {
      const m = /^(step|from|to)=(\d+)$/.exec(part);
      if (m) v[m[1]] = Number(m[2]);
    }
    if (v.from !== undefined && v.to !== undefined && v.from > v.to) [v.from, v.to] = [v.to, v.from];
    return v;
  }
  function setView(change) {
    const v = Object.assign(view(), change);
    const parts = ["step", "from", "to"].filter((k) => v[k] !== undefined).map((k) => k + "=" + v[k]);
    history.replaceState(null, "", location.pathname + location.search + (parts.length ? "#" + parts.join("&") : ""));
    render();
  }
  function renderPinned() {
    const v = view(), el = $("pinned");
    const notes = [];
    if (v.step !== undefined) {
      const parts = ["loss-chart", "val-chart", "rate-chart"].map((id) => valuesAt(id, v.step));
      const step = parts.find((p) => p.length);
      if (step) notes.push("pinned " + step[0] + " · " + parts.flatMap((p) => p.slice(1)).join(" · "));
    }
    if (v.from !== undefined || v.to !== undefined) {
      notes.push("zoomed to steps " + (v.from ?? 0) + "–" + (v.to ?? "end") + " (double-click a chart to reset)");
    }
    el.textContent = notes.join("   ·   ");
    el.hidden = notes.length === 0;
  }

  // Hover: a marker on the chart and the values under the pointer.
  function stepUnder(canvas, e) {
    const m = charts[canvas.id] && charts[canvas.id].map;
    if (!m) return undefined;
    const r = canvas.getBoundingClientRect();
    return m.x0 + ((e.clientX - r.left - m.pad.l) / (m.w - m.pad.l - m.pad.r)) * (m.x1 - m.x0);
  }
  let drag = null; // {id, x0, px0} while a button is down on a chart
  function hover(canvas, e) {
    const tip = $("tip"), x = stepUnder(canvas, e);
    if (x === undefined) return;
    const c = charts[canvas.id];
    const select = drag && drag.id === canvas.id ? [drag.x0, x] : undefined;
    drawChart(canvas, c.series, Object.assign({}, c.opts, { hoverX: x, select }));
    const lines = valuesAt(canvas.id, x);
    if (!lines.length) { tip.hidden = true; return; }
    tip.textContent = lines.join("\n");
    tip.hidden = false;
    tip.style.left = e.clientX + 14 + "px";
    tip.style.top = e.clientY + 10 + "px";
  }
  function unhover(canvas) {
    $("tip").hidden = true;
    const c = charts[canvas.id];
    if (c) drawChart(canvas, c.series, Object.assign({}, c.opts, { hoverX: undefined }));
  }
  for (const id of ["loss-chart", "val-chart", "rate-chart"]) {
    const cv = $(id);
    cv.addEventListener("mousemove", (e) => hover(cv, e));
    cv.addEventListener("mouseleave", () => { drag = null; unhover(cv); });
    cv.addEventListener("mousedown", (e) => {
      const x = stepUnder(cv, e);
      if (x !== undefined) drag = { id, x0: x, px0: e.clientX };
      e.preventDefault();
    });
    cv.addEventListener("mouseup", (e) => {
      const d = drag, x = stepUnder(cv, e);
      drag = null;
      if (!d || x === undefined) return;
      if (Math.abs(e.clientX - d.px0) > 6) { // a drag: zoom to the steps it spans
        const a = Math.round(Math.min(d.x0, x)), b = Math.round(Math.max(d.x0, x));
        if (b > a) setView({ from: a, to: b });
        return;
      }
      const near = nearest(charts[id].map.main, x); // a click: pin the nearest step
      if (near.length) setView({ step: near[0].p[0] });
    });
    cv.addEventListener("dblclick", () => setView({ from: undefined, to: undefined }));
  }
  window.addEventListener("hashchange", () => render());
  window.addEventListener("keydown", (e) => {
    if (e.key === "Escape") setView({ step: undefined });
  });

  function setText(id, v) { $(id).textContent = v; }

  function row(cells, attrs) {
    const tr = document.createElement("tr");
    for (const v of cells) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    Object.assign(tr.dataset, (attrs && attrs.data) || {});
    if (attrs && attrs.cls) tr.className = attrs.cls;
    return tr;
  }

  function emptyRow(cols, text) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = cols;
    td.textContent = text;
    tr.appendChild(td);
    return tr;
  }

  function accuracyText(m) {
    if (!m || !finite(m.val_acc)) return "–";
    return fmt(m.val_acc, 4) + (finite(m.val_ci95) ? " ± " + fmt(m.val_ci95, 4) : "");
  }

  function renderStatus(st) {
    const m = st.machine || {};
    setText("job", st.job);
    document.title = st.job + " · fsl dashboard";
    setText("step", st.step + " / " + st.steps);
    setText("loss", fmt(st.loss, 4));
    setText("elapsed", fmtDuration(st.elapsed_s));
    const workers = m.workers || [];
    setText("workers", String(workers.length));
    setText("val", accuracyText(st.validation));
    $("bar").style.width = (st.steps > 0 ? (100 * st.step) / st.steps : 0) + "%";
    const state = st.done ? "done" : m.phase || "running";
    const badge = $("state");
    badge.textContent = state;
    badge.className = "badge " + (st.done ? "done" : "running");

    const tbody = $("workers-table").tBodies[0];
    tbody.replaceChildren(...workers.map((w) => {
      const t = w.tally || {};
      return row([w.id, ago(w.joined), ago(w.last_seen), (w.shards || []).join(", ") || "–",
        String(t.leased ?? "–"), String(t.accepted ?? "–"), String(t.expired ?? "–"), String(t.invalid ?? "–")]);
    }));
    if (workers.length === 0) tbody.appendChild(emptyRow(8, "no workers"));

    // Every counter the coordinator serves, in its order; invalid results
    // by reason.
    const c = m.counters || {};
    const rows = [];
    for (const [k, v] of Object.entries(c)) {
      if (k === "invalid") {
        for (const [reason, n] of Object.entries(v || {})) rows.push(["invalid: " + reason.replace(/_/g, " "), n]);
      } else {
        rows.push([k.replace(/_/g, " "), v]);
      }
    }
    $("counters-table").tBodies[0].replaceChildren(...rows.map(([k, v]) => {
      const tr = document.createElement("tr");
      const a = document.createElement("th");
      a.textContent = k;
      const b = document.createElement("td");
      b.textContent = finite(v) ? fmt(v, 0) : String(v);
      tr.append(a, b);
      return tr;
    }));
  }

  // renderETA measures the step rate over the last live steps (those this
  // process applied: a resumed job's restored steps say nothing of its
  // speed now) and divides the steps left by it.
  function renderETA(st, steps) {
    const eta = $("eta");
    if (st.done) {
      eta.textContent = "done";
      eta.dataset.seconds = "0";
      return;
    }
    const live = steps.filter((p) => !p.restored && finite(p.time)).slice(-ETA_WINDOW);
    if (live.length < 2) {
      eta.textContent = "–";
      eta.dataset.seconds = "";
      return;
    }
    const a = live[0], b = live[live.length - 1];
    const rate = (b.step - a.step) / (b.time - a.time);
    if (!(rate > 0)) return;
    const left = Math.max(0, st.steps - st.step) / rate;
    eta.textContent = fmtDuration(left);
    eta.dataset.seconds = String(Math.round(left));
  }

  function renderHistory(h, st) {
    const steps = h.steps || [];
    const pts = (f) => steps.filter((p) => finite(f(p))).map((p) => [p.step, f(p)]);
    const smooth = $("smooth").checked, log = $("logy").checked;
    const loss = pts((p) => p.loss);
    drawChart($("loss-chart"), smooth
      ? [{ label: "raw", points: loss, faint: true, color: COLORS[0] }, { label: "loss (smoothed)", points: ema(loss, SMOOTHING), color: COLORS[0] }]
      : [{ label: "loss", points: loss, color: COLORS[0] }], { log });
    const rate = pts((p) => p.images_per_s);
    drawChart($("rate-chart"), [{ label: "images/s", points: rate }], { yMin: 0 });
    if (rate.length) setText("rate", fmt(rate[rate.length - 1][1], 0));

    const val = h.validation || [];
    const acc = val.filter((v) => v.metrics && finite(v.metrics.val_acc));
    const series = [{
      label: "val_acc", color: COLORS[2],
      points: acc.map((v) => [v.step, v.metrics.val_acc]),
      band: acc.filter((v) => finite(v.metrics.val_ci95))
        .map((v) => [v.step, v.metrics.val_acc - v.metrics.val_ci95, v.metrics.val_acc + v.metrics.val_ci95]),
    }];
    const others = [...new Set(val.flatMap((v) => Object.keys(v.metrics || {})))]
      .filter((n) => n !== "val_acc" && n !== "val_ci95").sort();
    for (const n of others) {
      series.push({ label: n, points: val.filter((v) => v.metrics && finite(v.metrics[n])).map((v) => [v.step, v.metrics[n]]) });
    }
    drawChart($("val-chart"), series, { empty: "no validation yet (eval_every)" });
    renderETA(st, steps);
  }

  function renderCheckpoints(list) {
    const tbody = $("checkpoints-table").tBodies[0];
    const rows = list.slice().reverse().map((c) => {
      const m = c.metrics || {};
      return row([String(c.step), ago(c.created), fmt(m.loss, 4), accuracyText(m), fmtBytes(c.bytes), c.best ? "★ best" : ""],
        { data: { step: String(c.step), best: String(!!c.best) }, cls: c.best ? "best" : "" });
    });
    tbody.replaceChildren(...rows);
    if (list.length === 0) tbody.appendChild(emptyRow(6, "no checkpoint yet (checkpoint_every)"));
  }

  function renderEvaluation(list) {
    $("evaluation").hidden = list.length === 0;
    $("evaluation-table").tBodies[0].replaceChildren(...list.map((e) =>
      row([e.protocol, String(e.step), fmt(e.accuracy, 4) + " ± " + fmt(e.ci95, 4)])));
  }

  async function getJSON(path) {
    const r = await fetch(path, { cache: "no-store" });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }

  let timer = null, last = null;
  function render() {
    if (!last) return;
    renderStatus(last.st);
    renderHistory(last.h, last.st);
    if (last.ck) renderCheckpoints(last.ck);
    if (last.ev) renderEvaluation(last.ev);
    renderPinned();
  }
  async function poll() {
    try {
      // The checkpoint list and the evaluation are extras: the page works
      // without them.
      const [st, h, ck, ev] = await Promise.all([getJSON("status"), getJSON("history"),
        getJSON("checkpoints").catch(() => null), getJSON("evaluation").catch(() => null)]);
      last = { st, h, ck, ev };
      render();
      document.body.dataset.polls = String(Number(document.body.dataset.polls) + 1);
    } catch (e) {
      const badge = $("state");
      badge.textContent = "unreachable: " + e.message;
      badge.className = "badge error";
    }
    timer = setTimeout(poll, POLL_MS);
  }
  $("smooth").addEventListener("change", render);
  $("logy").addEventListener("change", render);
  window.addEventListener("resize", () => { clearTimeout(timer); poll(); });
  poll();
})();
