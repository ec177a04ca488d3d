// SpanTally dashboard: plain JavaScript over the public API (/api/analytics/summary for the
// cards, /api/analytics/timeseries for the charts, /api/analytics/llm for the models table,
// /api/analytics/breakdown/agent, /api/analytics/anomalies and their dismiss, /api/calls).
"use strict";

const KEY_STORAGE = "spantally.apiKey";
const $ = (id) => document.getElementById(id);
// `refreshes` numbers each refresh: a slower, older one must not paint over a newer one.
const state = { models: new Set(), providers: new Set(), agents: new Set(), refreshes: 0 };

function apiKey() { return sessionStorage.getItem(KEY_STORAGE); }

function showKeyForm(message) {
  $("dashboard").hidden = true;
  $("change-key").hidden = true;
  $("key-form").hidden = false;
  if (message) { setStatus(message, "error", $("key-form")); }
}

function setStatus(message, kind, where) {
  const target = where ? (where.querySelector(".status") || where.appendChild(Object.assign(
    document.createElement("div"), { className: "status" }))) : $("status");
  target.textContent = message || "";
  target.className = "status" + (kind ? " " + kind : "");
}

// A panel's own status line.
function note(id, message, kind) {
  $(id).textContent = message || "";
  $(id).className = "status" + (kind && message ? " " + kind : "");
}

// Each table's question, as last asked: its CSV button asks the API the same with format=csv.
const TABLE_QUESTIONS = {};

async function downloadCsv(table) {
  const question = TABLE_QUESTIONS[table];
  if (!question) { return; }
  let response;
  try {
    response = await request(question.path, { ...question.params, format: "csv" });
  } catch (error) {
    setStatus(error.message + (error.code ? ` (${error.code})` : ""), "error");
    return;
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(await response.blob()), download: name ? name[1] : table + ".csv" });
  link.click();
  URL.revokeObjectURL(link.href);
}

// Asks the API, remembering the question as `table`'s (for its CSV button) when given.
function ask(path, params, table) {
  if (table) { TABLE_QUESTIONS[table] = { path, params }; }
  return api(path, params);
}

// The API's answer to a request, or an Error with the API's code and message.
async function request(path, params, method = "GET") {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
  let response;
  try {
    response = await fetch(`${path}?${query}`, { method, headers: { Authorization: `Bearer ${apiKey()}` } });
  } catch (error) {
    throw Object.assign(new Error("Cannot reach the SpanTally API: is `spantally up` running?"), { code: "UNREACHABLE" });
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const error = body.error || { code: `HTTP_${response.status}`, message: response.statusText };
    throw Object.assign(new Error(error.message), { code: error.code, status: response.status });
  }
  return response;
}

async function api(path, params, method = "GET") {
  return (await request(path, params, method)).json().catch(() => ({}));
}

function range() {
  const choice = $("range").value;
  const now = new Date();
  if (choice === "custom") {
    const from = $("from").value, to = $("to").value;
    return { from: from ? new Date(from + "Z").toISOString() : null, to: to ? new Date(to + "Z").toISOString() : null };
  }
  const hours = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30 }[choice];
  return { from: new Date(now - hours * 3600e3).toISOString(), to: now.toISOString() };
}

// Readable figures: short on the page, exact in the element's title (shown on hover).
const COMPACT = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
// A figure without a value (no calls, or a chart's cursor off every point) shows as "—".
const missing = (n) => n === null || n === undefined;
const fmtInt = (n) => missing(n) ? "—" : n.toLocaleString("en-US");
// Counts below 10,000 are short enough whole; above, 324,401,897 reads as 324.4M.
const fmtCount = (n) => missing(n) || Math.abs(n) < 1e4 ? fmtInt(n) : COMPACT.format(n);
function fmtUsd(n) {
  if (missing(n)) { return "—"; }
  if (Math.abs(n) >= 1e5) { return "$" + COMPACT.format(n); }
  // A call's cost is often below a cent: two significant digits keep it from showing $0.00.
  const digits = n === 0 || Math.abs(n) >= 0.01 ? { minimumFractionDigits: 2, maximumFractionDigits: 2 }
    : { maximumSignificantDigits: 2 };
  return "$" + n.toLocaleString("en-US", digits);
}
const usdExact = (n) => missing(n) ? "—" : "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 9 });
function fmtMs(n) {
  if (missing(n)) { return "—"; }
  if (Math.abs(n) >= 1000) { return (n / 1000).toLocaleString("en-US", { maximumFractionDigits: 2 }) + " s"; }
  return n.toLocaleString("en-US", { maximumFractionDigits: Math.abs(n) >= 100 ? 0 : 1 }) + " ms";
}
const msExact = (n) => missing(n) ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: 3 }) + " ms";

// Each kind of figure, short and exact.
const FIGURES = { count: [fmtCount, fmtInt], usd: [fmtUsd, usdExact], ms: [fmtMs, msExact] };
// A table cell of a figure: short, right-aligned, exact on hover.
const num = (kind, n) => [FIGURES[kind][0](n), "num", FIGURES[kind][1](n)];

// Shows `text`, with `exact` on hover when it says more.
function show(element, text, exact) {
  element.textContent = text;
  if (exact && exact !== text) { element.title = exact; } else { element.removeAttribute("title"); }
}

function showFigure(element, kind, n) {
  show(element, FIGURES[kind][0](n), FIGURES[kind][1](n));
}

function fillSelect(select, values) {
  const current = select.value;
  for (const value of [...values].sort()) {
    if (![...select.options].some((o) => o.value === value)) {
      select.append(new Option(value, value));
    }
  }
  select.value = current;
}

// The cards, from /api/analytics/summary with the period just before: what each shows, of what
// kind (the error rate is a percentage, changing by percentage points).
const CARDS = {
  calls: ["count", (m) => m.calls], cost: ["usd", (m) => m.costUsd],
  input: ["count", (m) => m.inputTokens], output: ["count", (m) => m.outputTokens],
  latency: ["ms", (m) => m.avgLatencyMs], p95: ["ms", (m) => m.p95LatencyMs],
  errors: ["rate", (m) => (m.calls ? 100 * m.errorCalls / m.calls : null)],
};

function renderCards(summary) {
  for (const [card, [kind, measure]] of Object.entries(CARDS)) {
    const now = measure(summary), before = measure(summary.previous);
    if (kind === "rate") {
      $("card-" + card).textContent = (now ?? 0).toFixed(1) + "%";
    } else {
      showFigure($("card-" + card), kind, now);
    }
    let change;
    if (missing(now) || missing(before)) {
      change = "no calls before";
    } else if (kind === "rate") {
      const points = now - before;
      change = (points > 0 ? "+" : "") + points.toFixed(1) + " pp vs previous";
    } else if (before === 0) {
      change = now === 0 ? "none, as before" : "new (none before)";
    } else {
      const percent = 100 * (now - before) / before;
      change = (percent > 0 ? "+" : "") + percent.toFixed(1) + "% vs previous";
    }
    show($("change-" + card), change, missing(before) ? "" : "the period before: "
      + (kind === "rate" ? before.toFixed(2) + "%" : FIGURES[kind][1](before)));
  }
}

// The charts: uPlot (server/api/dashboard/vendor, from npm), one per measure, over
// /api/analytics/timeseries in the chosen time zone with empty buckets filled with zeros.
// Each chart's legend shows the exact figures of the bucket under the cursor; the same figures
// are in the table under the charts (for screen readers, and to copy).
const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9"];
const pct = (n) => missing(n) ? "—" : (100 * n).toLocaleString("en-US", { maximumFractionDigits: 2 }) + "%";
const errorRate = (row) => row.calls ? row.errorCalls / row.calls : null;
const CHARTS = [
  { id: "chart-calls", bars: true, short: fmtCount, series: [
    ["Calls", (r) => r.calls, fmtInt], ["Errors", (r) => r.errorCalls, fmtInt]] },
  { id: "chart-cost", short: fmtUsd, series: [["Cost (USD)", (r) => r.costUsd, usdExact]] },
  { id: "chart-tokens", short: fmtCount, series: [
    ["Input", (r) => r.inputTokens, fmtInt], ["Output", (r) => r.outputTokens, fmtInt],
    ["Cache read", (r) => r.cacheReadTokens, fmtInt]] },
  { id: "chart-latency", short: fmtMs, series: [
    ["p50", (r) => r.p50LatencyMs, msExact], ["p95", (r) => r.p95LatencyMs, msExact],
    ["p99", (r) => r.p99LatencyMs, msExact]] },
  { id: "chart-errors", short: pct, series: [["Error rate", errorRate, pct]] },
];
const plots = [];

function renderCharts(body) {
  state.series = body;
  const zone = body.timeZone;
  const times = body.data.map((r) => Date.parse(r.bucket) / 1000);
  while (plots.length) { plots.pop().destroy(); }
  // Canvas colours from the page's (light or dark) palette: a canvas knows no CSS variables.
  const css = getComputedStyle(document.documentElement);
  const ink = css.getPropertyValue("--muted").trim(), line = css.getPropertyValue("--line").trim();
  for (const chart of CHARTS) {
    const target = $(chart.id).querySelector(".plot");
    const options = {
      width: Math.max(240, target.clientWidth), height: 200,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone),
      scales: { x: { time: true } },
      axes: [{ stroke: ink, grid: { stroke: line }, ticks: { stroke: line } },
             { stroke: ink, grid: { stroke: line }, ticks: { stroke: line }, size: 60,
               values: (u, ticks) => ticks.map(chart.short) }],
      series: [{ label: "Bucket" }, ...chart.series.map(([label, , exact], i) => ({
        label, stroke: PALETTE[i], width: 2, value: (u, v) => exact(v),
        ...(chart.bars ? { fill: PALETTE[i] + "99", paths: uPlot.paths.bars({ size: [0.7, 40] }) } : {}),
      }))],
    };
    const data = [times, ...chart.series.map(([, value]) => body.data.map(value))];
    plots.push(new uPlot(options, data, target));
  }
  renderTable("series", body.data, (r) => [
    [r.bucket.slice(0, 16).replace("T", " ")], [fmtInt(r.calls), "num"], [fmtInt(r.errorCalls), "num"],
    [usdExact(r.costUsd), "num"], [fmtInt(r.inputTokens), "num"], [fmtInt(r.outputTokens), "num"],
    [fmtInt(r.cacheReadTokens), "num"], [msExact(r.p50LatencyMs), "num"],
    [msExact(r.p95LatencyMs), "num"], [msExact(r.p99LatencyMs), "num"]]);
}

// The system switching between light and dark: the canvases are drawn again in its colours.
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  if (state.series) { renderCharts(state.series); }
});

window.addEventListener("resize", () => {
  for (const plot of plots) { plot.setSize({ width: Math.max(240, plot.root.parentElement.clientWidth), height: 200 }); }
});

function renderAgents(breakdown) {
  renderTable("agents-table", breakdown.data, (a) => {
    const change = a.changes.costUsd;
    const percent = change.changePercent === null ? (change.current ? "new" : "—")
      : (change.changePercent > 0 ? "+" : "") + change.changePercent.toFixed(1) + "%";
    return [
      [a.other ? "(other agents)" : (a.key ?? "(no agent)")], num("count", a.calls),
      num("usd", a.costUsd), [a.percentageOfTotal.toFixed(2) + "%", "num"],
      [percent, "num " + (change.trend === "up" ? "up" : change.trend === "down" ? "down" : "")],
      num("ms", a.p95LatencyMs), num("count", a.errorCalls)];
  }, (a) => (a.other || a.key === null ? null : { agent: a.key }));
}

const ANOMALIES_SHOWN = 12;

// A stored anomaly's status, with a button to dismiss it while it is not (an admin key's right:
// the API's refusal shows in the panel otherwise).
function dismissButton(anomaly) {
  const cell = document.createElement("span");
  cell.textContent = anomaly.status;
  if (anomaly.status === "dismissed") { return cell; }
  const button = Object.assign(document.createElement("button"), { className: "link dismiss", textContent: "dismiss" });
  button.addEventListener("click", async () => {
    try {
      await api(`/api/analytics/anomalies/${encodeURIComponent(anomaly.id)}/dismiss`, {}, "POST");
      refresh();
    } catch (error) {
      note("anomalies-status", error.message + (error.code ? ` (${error.code})` : ""), "error");
    }
  });
  cell.append(" ", button);
  return cell;
}

function renderAnomalies(body) {
  renderTable("anomalies", body.data.slice(0, ANOMALIES_SHOWN), (a) => [
    [a.hour.slice(0, 16).replace("T", " ")], [a.severity, "severity-" + a.severity],
    [a.type.replaceAll("_", " ")], [a.scope === "project" ? "project" : `${a.scope} ${a.scopeKey}`],
    [a.description], [a.status ? dismissButton(a) : "—"]]);
  const total = body.data.length;
  note("anomalies-status", !total ? "No anomalies in this range."
    : total > ANOMALIES_SHOWN ? `The latest ${ANOMALIES_SHOWN} of ${fmtInt(total)}; all of them: ` +
      "`spantally analytics anomalies` or /api/analytics/anomalies (format=csv)." : "", "empty");
}

// A panel whose question the API refuses (e.g. anomalies over more than 31 days) says why in
// place; the rest of the dashboard still shows.
async function panel(statusId, tableId, request, render, stale) {
  try {
    note(statusId, "");
    const body = await request;
    if (!stale()) { render(body); }
  } catch (error) {
    if (stale() || error.status === 401 || error.status === 403) { return; }  // refresh() handles the key
    $(tableId).querySelector("tbody").replaceChildren();
    note(statusId, error.message + (error.code ? ` (${error.code})` : ""), "error");
  }
}

// `drill(row)`, when given, names the filters a row stands for ({ model, provider } or
// { agent }): clicking the row, or Enter on it, filters the whole page by them.
function renderTable(id, rows, cells, drill) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    const filters = drill && drill(row);
    if (filters) {
      tr.className = "drill";
      tr.tabIndex = 0;
      tr.title = "Show only " + Object.values(filters).join(" / ");
      const apply = () => {
        for (const [control, value] of Object.entries(filters)) { $(control).value = value; }
        refresh();
      };
      tr.addEventListener("click", apply);
      tr.addEventListener("keydown", (event) => { if (event.key === "Enter") { apply(); } });
    }
    for (const [text, cls, exact] of cells(row)) {
      const td = document.createElement("td");
      if (text instanceof Node) { td.append(text); } else { show(td, text, exact); }
      if (cls) { td.className = cls; }
      tr.append(td);
    }
    return tr;
  }));
}

// The view's state (range, granularity, filters) lives in the URL's fragment, so a view can be
// bookmarked and shared: `/#range=7d&granularity=day&model=gpt-4o`. The key never goes there.
const URL_STATE = ["range", "from", "to", "granularity", "tz", "agent", "model", "provider",
  "anomaly-status"];

function writeUrlState() {
  const custom = $("range").value === "custom";
  const entries = URL_STATE.map((id) => [id, $(id).value.trim()])
    .filter(([id, value]) => value && (custom || (id !== "from" && id !== "to")));
  const fragment = "#" + new URLSearchParams(entries);
  if (location.hash !== fragment) { history.replaceState(null, "", fragment); }
}

function readUrlState() {
  const given = new URLSearchParams(location.hash.slice(1));
  for (const id of URL_STATE) {
    const value = given.get(id);
    if (value === null) { continue; }
    const control = $(id);
    // A model or provider not seen yet in this tab: offered, so that it can be chosen.
    if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === value)) {
      if (id === "model" || id === "provider") { control.append(new Option(value, value)); } else { continue; }
    }
    control.value = value;
  }
  $("custom-range").hidden = $("range").value !== "custom";
}

async function refresh() {
  writeUrlState();
  const generation = ++state.refreshes;
  const stale = () => generation !== state.refreshes;
  const { from, to } = range();
  const filters = { agentId: $("agent").value.trim(), model: $("model").value, provider: $("provider").value };
  setStatus("Loading…");
  try {
    const agents = ask("/api/analytics/breakdown/agent",
      { from, to, sort: "cost", limit: 10, compare: "previous_period", ...filters }, "agents-table");
    // Stored anomalies are the project's as a whole: the API takes no filters with a status.
    const anomalyStatus = $("anomaly-status").value;
    const anomalies = ask("/api/analytics/anomalies",
      anomalyStatus ? { from, to, status: anomalyStatus } : { from, to, ...filters }, "anomalies");
    const series = ask("/api/analytics/timeseries", { from, to, granularity: $("granularity").value,
      tz: $("tz").value, fill: "zero", ...filters }, "series");
    series.catch(() => {});
    // The models table's figures per model, every model (the table splits them by provider too).
    TABLE_QUESTIONS.models = { path: "/api/analytics/breakdown/model", params: { from, to, limit: 1000, ...filters } };
    agents.catch(() => {}); anomalies.catch(() => {});  // handled by panel() below
    const [analytics, recent, summary] = await Promise.all([
      api("/api/analytics/llm", { from, to, granularity: $("granularity").value, ...filters }),
      ask("/api/calls", { from, to, limit: 20, ...filters }, "recent"),
      api("/api/analytics/summary", { from, to, compare: "previous_period", ...filters }),
    ]);
    if (stale()) { return; }
    for (const m of analytics.byModel) { state.models.add(m.model); state.providers.add(m.provider); }
    for (const c of recent.calls) { if (c.agentId) { state.agents.add(c.agentId); } }
    fillSelect($("model"), state.models);
    fillSelect($("provider"), state.providers);
    $("agents").replaceChildren(...[...state.agents].sort().map((a) => new Option(a, a)));
    renderCards(summary);
    renderTable("models", analytics.byModel, (m) => [
      [m.provider ?? "—"], [m.model ?? "—"], num("count", m.calls),
      num("usd", m.costUsd),
      num("count", m.inputTokens),
      num("count", m.outputTokens),
      num("ms", m.avgLatencyMs)],
      (m) => (m.model === null ? null : { model: m.model, provider: m.provider ?? "" }));
    renderTable("recent", recent.calls, (c) => [
      [c.time.slice(0, 19).replace("T", " ")], [c.model ?? "—"], [c.agentId ?? "—"],
      num("count", c.inputTokens),
      num("count", c.outputTokens), num("usd", c.costUsd),
      num("ms", c.latencyMs), [c.errorType ? `error: ${c.errorType}` : c.status, c.errorType ? "error" : ""]]);
    if (summary.calls === 0) {
      setStatus("No calls in this range. Widen the range, clear the filters, or send some: " +
        "`spantally demo` makes a week of sample traffic, and the README shows how to instrument your code.", "empty");
    } else {
      setStatus("");
    }
    await Promise.all([
      panel("agents-status", "agents-table", agents, renderAgents, stale),
      panel("anomalies-status", "anomalies", anomalies, renderAnomalies, stale),
      panel("series-status", "series", series, renderCharts, stale),
    ]);
  } catch (error) {
    if (stale()) { return; }
    if (error.status === 401 || error.status === 403) {
      sessionStorage.removeItem(KEY_STORAGE);
      showKeyForm("That API key was refused (" + error.code + "): enter a valid key.");
    } else {
      setStatus(error.message + (error.code ? ` (${error.code})` : ""), "error");
    }
  }
}

// Every zone the browser knows, its own first (the default).
function fillZones() {
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const zones = new Set([own, "UTC", ...(Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [])]);
  $("tz").replaceChildren(...[...zones].map((zone) => new Option(zone === own ? `${zone} (this browser)` : zone, zone)));
  $("tz").value = own;
}

function start() {
  fillZones();
  readUrlState();
  window.addEventListener("hashchange", () => { readUrlState(); if (apiKey()) { refresh(); } });
  $("key-entry").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    $("api-key").value = "";
    $("key-form").hidden = true;
    $("dashboard").hidden = false;
    $("change-key").hidden = false;
    refresh();
  });
  for (const button of document.querySelectorAll("button.csv")) {
    button.addEventListener("click", () => downloadCsv(button.dataset.table));
  }
  $("change-key").addEventListener("click", () => { sessionStorage.removeItem(KEY_STORAGE); showKeyForm(); });
  $("range").addEventListener("change", () => {
    $("custom-range").hidden = $("range").value !== "custom";
    if ($("range").value !== "custom") { refresh(); }
  });
  for (const id of ["from", "to", "granularity", "tz", "model", "provider", "agent", "anomaly-status"]) {
    $(id).addEventListener("change", refresh);
  }
  $("controls").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  if (apiKey()) {
    $("dashboard").hidden = false;
    $("change-key").hidden = false;
    refresh();
  } else {
    showKeyForm();
  }
}

start();
