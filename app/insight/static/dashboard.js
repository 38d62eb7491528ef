// Run insight dashboard: polls the JSON routes with the tenant's API key and draws uPlot charts.
// The key lives in this closure only (never in a cookie or in storage); see app/insight/routes.py.
"use strict";
(function () {
  const POLL_MS = 2000;
  const body = document.body;
  const openMode = body.dataset.openMode === "true";
  let apiKey = null;
  let selected = new URLSearchParams(location.search).get("run");
  const charts = {};
  let timer = null;

  // A key handed over in the address (#api_key=… is never sent to the server; ?api_key=… is
  // accepted too) is taken once and wiped from the address bar and the history entry.
  (function takeKeyFromAddress() {
    const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    const query = new URLSearchParams(location.search);
    const key = hash.get("api_key") || query.get("api_key");
    if (!key) return;
    apiKey = key;
    query.delete("api_key");
    const q = query.toString();
    history.replaceState(null, "", location.pathname + (q ? "?" + q : ""));
  })();

  const $ = (id) => document.getElementById(id);
  const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");

  function setStatus(text) { $("status").textContent = text; }

  async function api(path) {
    const headers = apiKey ? { Authorization: "Bearer " + apiKey } : {};
    const res = await fetch(path, { headers, cache: "no-store" });
    if (res.status === 401) {
      apiKey = null;
      showLogin("The key was refused: enter a valid API key.");
      throw new Error("unauthorised");
    }
    if (!res.ok) {
      let msg = res.status + "";
      try { msg = (await res.json()).error.message; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return res.json();
  }

  function showLogin(message) {
    $("login").hidden = false;
    setStatus(message || "Enter an API key to see your runs.");
    if (timer) { clearInterval(timer); timer = null; }
  }

  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    apiKey = $("api-key").value.trim();
    $("api-key").value = "";
    $("login").hidden = true;
    start();
  });

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  function renderRuns(runs) {
    const tbody = $("runs").querySelector("tbody");
    tbody.replaceChildren();
    $("no-runs").hidden = runs.length > 0;
    for (const r of runs) {
      const tr = document.createElement("tr");
      tr.dataset.run = r.run_id;
      if (r.run_id === selected) tr.className = "selected";
      cell(tr, r.run_id); cell(tr, r.scheduler); cell(tr, fmt(r.tau, 2));
      cell(tr, r.step === null ? "–" : String(r.step)); cell(tr, String(r.groups));
      tr.addEventListener("click", () => select(r.run_id));
      tbody.appendChild(tr);
    }
    if (!selected && runs.length) select(runs[0].run_id);
  }

  function select(runId) {
    selected = runId;
    const q = new URLSearchParams(location.search);
    q.set("run", runId);
    history.replaceState(null, "", location.pathname + "?" + q.toString());
    for (const tr of $("runs").querySelectorAll("tbody tr")) tr.className = tr.dataset.run === runId ? "selected" : "";
    refreshRun();
  }

  function chart(id, series, data, extra) {
    const el = $(id);
    const width = Math.max(el.clientWidth, 280);
    const labels = series.map((s) => s.label).join("|");
    const old = charts[id];
    if (old && old.labels === labels) {
      old.plot.setData(data);
      return;
    }
    if (old) old.plot.destroy();
    const opts = Object.assign(
      { width, height: 220, scales: { x: { time: false } }, series, legend: { live: false } },
      extra || {}
    );
    charts[id] = { labels, plot: new uPlot(opts, data, el) };
  }

  const COLORS = ["#2459a6", "#1e8449", "#8e44ad", "#d68910", "#c0392b", "#16a085", "#7f8c8d"];

  function renderStats(s) {
    $("run-panel").hidden = false;
    $("run-title").textContent = s.run_id;
    const warnings = $("warnings");
    warnings.replaceChildren();
    for (const w of s.warnings) {
      const div = document.createElement("div");
      div.className = "warning";
      div.textContent = "⚠ " + w;
      warnings.appendChild(div);
    }
    const steps = s.steps;
    const last = steps.length ? steps[steps.length - 1] : null;
    const judged = steps.filter((x) => x.dead_group_rate !== null);
    const lastJudged = judged.length ? judged[judged.length - 1] : null;
    $("card-tau").textContent = fmt(s.tau, 2);
    $("card-step").textContent = last ? String(last.step) : "–";
    $("card-dead").textContent = lastJudged ? pct(lastJudged.dead_group_rate) : "–";
    $("card-dead").className = "value " + (lastJudged && lastJudged.dead_group_rate > s.dead_group_warn ? "bad" : "");
    $("card-phantom").textContent = lastJudged ? pct(lastJudged.phantom_group_rate) : "–";
    $("card-reward").textContent = last ? fmt(last.reward.mean) : "–";
    $("card-items").textContent = String(steps.reduce((n, x) => n + x.items, 0));
    $("raises").textContent = String(s.raises.length);
    $("run-panel").dataset.steps = String(steps.length);
    $("run-panel").dataset.lastStep = last ? String(last.step) : "";

    const xs = steps.map((x) => x.step);
    chart("chart-rates", [
      { label: "step" },
      { label: "dead", stroke: "#c0392b", width: 2, points: { show: true } },
      { label: "phantom", stroke: "#d68910", width: 2, points: { show: true } },
      { label: "warn level", stroke: "#999", dash: [4, 4] },
    ], [xs, steps.map((x) => x.dead_group_rate), steps.map((x) => x.phantom_group_rate), xs.map(() => s.dead_group_warn)],
    { scales: { x: { time: false }, y: { range: [0, 1] } } });
    chart("chart-tau", [
      { label: "step" },
      { label: "τ", stroke: "#2459a6", width: 2, points: { show: true } },
      { label: "window mean reward", stroke: "#1e8449" },
    ], [xs, steps.map((x) => x.tau), steps.map((x) => (x.window ? x.window.mean_reward : null))],
    { scales: { x: { time: false }, y: { range: [0, 1] } } });
    const names = Array.from(new Set(steps.flatMap((x) => Object.keys(x.components)))).sort();
    chart("chart-components",
      [{ label: "step" }, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 2 }))],
      [xs, ...names.map((n) => steps.map((x) => (x.components[n] ? x.components[n].mean : null)))]);
    const histStep = last;
    $("hist-step").textContent = histStep ? String(histStep.step) : "–";
    const edges = s.histogram_edges;
    // Show from the first bin of the reward range that any step used (most profiles never go below 0).
    let from = edges.findIndex((e) => e >= 0);
    for (const x of steps) { const i = x.histogram.findIndex((c) => c > 0); if (i >= 0 && i < from) from = i; }
    const centres = edges.slice(from, -1).map((e, i) => +(e + (edges[1] - edges[0]) / 2).toFixed(3));
    const counts = histStep ? histStep.histogram.slice(from) : centres.map(() => 0);
    chart("chart-hist", [
      { label: "reward" },
      { label: "items", fill: "rgba(36,89,166,0.35)", stroke: "#2459a6", paths: uPlot.paths.bars({ size: [0.9] }), points: { show: false } },
    ], [centres, counts], { scales: { x: { time: false, range: [edges[from], edges[edges.length - 1]] } } });

    const wbody = $("window").querySelector("tbody");
    wbody.replaceChildren();
    const w = s.window || {};
    // MedLoc-R1's checks where the scheduler makes them; the plain window statistics otherwise.
    const rows = w.min_reward === undefined ? [
      ["filled", `${w.size ?? "–"} / ${w.capacity ?? "–"}`, undefined],
      ["mean reward", fmt(w.mean_reward), undefined],
      ["std of group means", fmt(w.std_reward), undefined],
      ["mean IoU", fmt(w.mean_iou), undefined],
    ] : [
      ["filled", `${w.size ?? "–"} / ${w.capacity ?? "–"}`, w.fill_ok],
      ["mean reward ≥ P(τ)", `${fmt(w.mean_reward)} ≥ ${fmt(w.min_reward, 2)}`, w.reward_ok],
      ["std of group means ≤ S(τ)", `${fmt(w.std_reward)} ≤ ${fmt(w.max_std, 2)}`, w.stability_ok],
      ["mean IoU − τ ≥ Δ", `${fmt(w.margin)} ≥ ${fmt(w.min_margin, 2)}`, w.margin_ok],
    ];
    for (const [label, value, ok] of rows) {
      const tr = document.createElement("tr");
      cell(tr, label); cell(tr, value);
      cell(tr, ok === undefined ? "" : ok ? "✓" : "✗", ok === undefined ? "" : ok ? "ok" : "bad");
      wbody.appendChild(tr);
    }
    const cbody = $("components").querySelector("tbody");
    cbody.replaceChildren();
    for (const n of names) {
      const c = last && last.components[n];
      const tr = document.createElement("tr");
      cell(tr, n); cell(tr, c ? fmt(c.mean) : "–"); cell(tr, c ? fmt(c.std) : "–"); cell(tr, c ? pct(c.abstain_rate) : "–");
      cbody.appendChild(tr);
    }
  }

  async function refreshRun() {
    if (!selected) return;
    try {
      renderStats(await api(`/v1/runs/${encodeURIComponent(selected)}/stats?last=200`));
    } catch (e) {
      if (e.message !== "unauthorised") setStatus("Run " + selected + ": " + e.message);
    }
  }

  async function poll() {
    try {
      const runs = (await api("/v1/runs")).runs;
      renderRuns(runs);
      await refreshRun();
      setStatus("updated " + new Date().toLocaleTimeString());
    } catch (e) {
      if (e.message !== "unauthorised") setStatus("error: " + e.message);
    }
  }

  function start() {
    poll();
    if (!timer) timer = setInterval(poll, POLL_MS);
  }

  window.addEventListener("DOMContentLoaded", () => {
    if (openMode || apiKey) start();
    else showLogin();
  });
})();
