// fsl live dashboard: polls /status and /history and draws the curves on
// plain canvases. No libraries, no network beyond this coordinator.
"use strict";

(function () {
  const POLL_MS = 1000;
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];
  const PHASES = ["running", "complete", "done"];
  const $ = (id) => document.getElementById(id);

  // Errors of this script land in a DOM attribute as well as the console,
  // so a headless check with --dump-dom sees them.
  function recordError(msg) {
    const b = document.body;
    b.dataset.errors = (b.dataset.errors ? b.dataset.errors + " | " : "") + msg;
  }
  window.addEventListener("error", (e) => recordError(String(e.message)));
  window.addEventListener("unhandledrejection", (e) => recordError(String(e.reason)));

  function fmt(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return "–";
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
    return x.toFixed(digits);
  }

  function fmtDuration(s) {
    if (!isFinite(s) || s < 0) return "–";
    if (s < 60) return s.toFixed(1) + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + Math.floor(s % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function ago(iso) {
    const t = Date.parse(iso);
    if (!isFinite(t) || t <= 0) return "–";
    return fmtDuration(Math.max(0, (Date.now() - t) / 1000)) + " ago";
  }

  // niceTicks returns about n round values spanning [lo, hi].
  function niceTicks(lo, hi, n) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const raw = span / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw);
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
    return ticks;
  }

  // drawChart plots series [{label, points: [[x, y], ...]}] on canvas and
  // writes the number of points drawn into its data-points attribute.
  function drawChart(canvas, series, opts) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 400, h = canvas.clientHeight || 220;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pad = { l: 56, r: 12, t: 10, b: 26 };
    const pts = series.flatMap((s) => s.points);
    canvas.dataset.points = String(pts.length);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#6b7586";
    if (pts.length === 0) {
      ctx.fillText(opts.empty || "no data yet", pad.l, h / 2);
      return;
    }
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
    if (opts.yMin !== undefined) y0 = Math.min(y0, opts.yMin);
    if (opts.yMax !== undefined) y1 = Math.max(y1, opts.yMax);
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
    const px = (x) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
    const py = (y) => h - pad.b - ((y - y0) / (y1 - y0)) * (h - pad.t - pad.b);

    ctx.strokeStyle = "#dde1e7";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of niceTicks(y0, y1, 4)) {
      ctx.beginPath(); ctx.moveTo(pad.l, py(v)); ctx.lineTo(w - pad.r, py(v)); ctx.stroke();
      ctx.fillText(fmt(v, opts.digits === undefined ? 2 : opts.digits), pad.l - 6, py(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const v of niceTicks(x0, x1, 6)) {
      if (v !== Math.round(v)) continue; // steps are integers
      ctx.fillText(String(v), px(v), h - pad.b + 6);
    }

    series.forEach((s, i) => {
      if (s.points.length === 0) return;
      ctx.strokeStyle = ctx.fillStyle = COLORS[i % COLORS.length];
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      s.points.forEach((p, j) => (j === 0 ? ctx.moveTo(px(p[0]), py(p[1])) : ctx.lineTo(px(p[0]), py(p[1]))));
      ctx.stroke();
      if (s.points.length < 60) {
        for (const p of s.points) { ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), 2.5, 0, 2 * Math.PI); ctx.fill(); }
      }
      if (series.length > 1 || s.label) {
        ctx.textAlign = "left";
        ctx.textBaseline = "top";
        ctx.fillText(s.label, pad.l + 8 + i * 110, pad.t);
      }
    });
  }

  function setText(id, v) { $(id).textContent = v; }

  function renderStatus(st) {
    const m = st.machine || {};
    setText("job", st.job);
    setText("step", st.step + " / " + st.steps);
    setText("loss", fmt(st.loss, 4));
    setText("images", String(st.images));
    setText("elapsed", fmtDuration(st.elapsed_s));
    const workers = m.Workers || [];
    setText("workers", String(workers.length));
    const val = st.validation || {};
    const keys = Object.keys(val).sort();
    setText("val", keys.length ? keys.map((k) => k + " " + fmt(val[k], 3)).join(", ") : "–");
    $("bar").style.width = (st.steps > 0 ? (100 * st.step) / st.steps : 0) + "%";
    const state = st.done ? "done" : PHASES[m.Phase] || "running";
    const badge = $("state");
    badge.textContent = state;
    badge.className = "badge " + (st.done ? "done" : "running");

    const tbody = $("workers-table").tBodies[0];
    tbody.replaceChildren(...workers.map((w) => {
      const tr = document.createElement("tr");
      for (const v of [w.ID, ago(w.Joined), ago(w.LastSeen), (w.Shards || []).join(", ") || "–"]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      return tr;
    }));
    if (workers.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 4;
      td.textContent = "no workers";
      tr.appendChild(td);
      tbody.appendChild(tr);
    }

    const c = m.Counters || {};
    const rows = [
      ["leased", c.Leased], ["backups", c.Backups], ["fulfilled", c.Fulfilled], ["expired", c.Expired],
      ["returned", c.Returned], ["applied", c.Applied], ["late", c.Late], ["duplicates", c.Duplicates],
      ["invalid", c.InvalidTotal], ["workers joined", c.WorkersJoined], ["workers left", c.WorkersLeft],
      ["workers lost", c.WorkersLost],
    ];
    $("counters-table").tBodies[0].replaceChildren(...rows.map(([k, v]) => {
      const tr = document.createElement("tr");
      const a = document.createElement("th");
      a.textContent = k;
      const b = document.createElement("td");
      b.textContent = v === undefined ? "–" : String(v);
      tr.append(a, b);
      return tr;
    }));
  }

  function renderHistory(h) {
    const steps = h.steps || [];
    const finitePts = (f) => steps.filter((p) => f(p) !== null && isFinite(f(p))).map((p) => [p.step, f(p)]);
    drawChart($("loss-chart"), [{ label: "", points: finitePts((p) => p.loss) }], { digits: 3 });
    const rate = finitePts((p) => p.images_per_s);
    drawChart($("rate-chart"), [{ label: "", points: rate }], { digits: 0, yMin: 0 });
    if (rate.length) setText("rate", fmt(rate[rate.length - 1][1], 0));
    const names = [...new Set((h.validation || []).flatMap((v) => Object.keys(v.metrics || {})))].sort();
    const series = names.map((n) => ({
      label: n,
      points: (h.validation || []).filter((v) => v.metrics && n in v.metrics).map((v) => [v.step, v.metrics[n]]),
    }));
    drawChart($("val-chart"), series, { digits: 2, empty: "no validation yet (eval_every)" });
  }

  async function getJSON(path) {
    const r = await fetch(path, { cache: "no-store" });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }

  let timer = null;
  async function poll() {
    try {
      const [st, h] = await Promise.all([getJSON("status"), getJSON("history")]);
      renderStatus(st);
      renderHistory(h);
      document.body.dataset.polls = String(Number(document.body.dataset.polls) + 1);
    } catch (e) {
      const badge = $("state");
      badge.textContent = "unreachable: " + e.message;
      badge.className = "badge error";
    }
    timer = setTimeout(poll, POLL_MS);
  }
  window.addEventListener("resize", () => { clearTimeout(timer); poll(); });
  poll();
})();
