// The views: each asks the public API its questions for the page's range and filters and
// fills its panels. `page` (app.js) gives what every view needs: the range, the filters as API
// parameters, `stale()` (a newer refresh began), `drill(filters)` (filter everything and show
// the overview), `open(id, value)` (open a run, session or call in the view), `refresh()`.

import { api, ask, said } from "./api.js";
import { renderCharts } from "./charts.js";
import { FIGURES, changeCell, fmtInt, missing, msExact, num, show, showFigure, usdExact, when } from "./format.js";
import { $, cellButton, note, panel, renderPager, renderTable } from "./ui.js";

const PAGE = 50;  // rows per page of the calls and sessions lists
const SPLIT_VALUES = 5;  // values a split chart shows, the rest as "other"
// Where a dimension's value filters: the API's parameter and the page's control.
const FILTER_OF = {
  model: ["model", "model"], provider: ["provider", "provider"], agent: ["agentId", "agent"],
  user: ["userId", "user"],
};

// -- cards -------------------------------------------------------------------------------------

// Cards against the period just before (`previous` of the same answer): [kind, measure].
// Rates change by percentage points, the rest by percent.
function renderCards(cards, answer) {
  for (const [card, [kind, measure]] of Object.entries(cards)) {
    const now = measure(answer), before = answer.previous ? measure(answer.previous) : null;
    showFigure($("card-" + card), kind, now);
    let change;
    if (missing(now) || missing(before)) {
      change = "none before";
    } else if (kind === "ratio") {
      const points = 100 * (now - before);
      change = (points > 0 ? "+" : "") + points.toFixed(1) + " pp vs previous";
    } else if (before === 0) {
      change = now === 0 ? "none, as before" : "new (none before)";
    } else {
      const percent = 100 * (now - before) / before;
      change = (percent > 0 ? "+" : "") + percent.toFixed(1) + "% vs previous";
    }
    show($("change-" + card), change, missing(before) ? "" : "the period before: " + FIGURES[kind][1](before));
  }
}

const CALL_CARDS = {
  calls: ["count", (m) => m.calls], cost: ["usd", (m) => m.costUsd],
  input: ["count", (m) => m.inputTokens], output: ["count", (m) => m.outputTokens],
  latency: ["ms", (m) => m.avgLatencyMs], p95: ["ms", (m) => m.p95LatencyMs],
  errors: ["ratio", (m) => (m.calls ? m.errorCalls / m.calls : null)],
};

const RUN_CARDS = {
  runs: ["count", (m) => m.runs], success: ["ratio", (m) => m.successRate],
  duration: ["ms", (m) => m.avgDurationMs], steps: ["average", (m) => m.avgSteps],
  "run-cost": ["usd", (m) => m.costPerRunUsd],
};

// -- shared rows ---------------------------------------------------------------------------------

const plural = (n, noun) => `${fmtInt(n)} ${noun}${n === 1 ? "" : "s"}`;
const status = (row) => [row.errorType ? `error: ${row.errorType}` : row.status, row.errorType || row.status === "error" ? "error" : ""];

// A breakdown row's cells: its value, then its measures.
function breakdownCells(label) {
  return (r) => [
    [r.other ? "(the rest)" : (r.key ?? `(no ${label})`)], num("count", r.calls), num("usd", r.costUsd),
    [r.percentageOfTotal.toFixed(2) + "%", "num"], changeCell(r.changes.costUsd),
    num("count", r.inputTokens), num("count", r.outputTokens), num("ms", r.avgLatencyMs),
    num("ms", r.p95LatencyMs), num("count", r.errorCalls)];
}

// A breakdown row that filters everything by its value.
function drillBy(page, dimension) {
  return (r) => (r.other || r.key === null ? null : {
    title: `Show only ${dimension} ${r.key}`, go: () => page.drill({ [FILTER_OF[dimension][1]]: r.key }) });
}

function remember(datalist, values) {
  const list = $(datalist);
  const known = new Set([...list.options].map((o) => o.value));
  for (const value of values) {
    if (value && !known.has(value)) { list.append(new Option(value, value)); known.add(value); }
  }
}

function breakdown(page, dimension, table, extra = {}) {
  return ask(`/api/analytics/breakdown/${dimension}`,
    { ...page.range, ...page.filters, sort: "cost", limit: 25, compare: "previous_period", ...extra }, table);
}

// -- overview ------------------------------------------------------------------------------------

async function overview(page) {
  const { range, filters } = page;
  const series = { ...range, ...filters, granularity: $("granularity").value, tz: $("tz").value, fill: "zero" };
  const split = $("stack").value;
  const total = ask("/api/analytics/timeseries", series, "series");
  const charts = (async () => {
    const answer = await total;
    if (!split || filters[FILTER_OF[split][0]]) { return [answer, null]; }
    // The top values of the range, each its own series (the API's, with its filter).
    const top = await api(`/api/analytics/breakdown/${split}`, { ...range, ...filters, sort: "cost", limit: SPLIT_VALUES });
    const values = top.data.filter((r) => !r.other && r.key !== null).map((r) => r.key);
    const parts = await Promise.all(values.map(async (value) => ({
      label: value, rows: (await api("/api/analytics/timeseries", { ...series, [FILTER_OF[split][0]]: value })).data })));
    return [answer, parts];
  })();
  const recent = ask("/api/calls", { ...range, ...filters, limit: 10 }, "recent");
  const summary = await api("/api/analytics/summary", { ...range, ...filters, compare: "previous_period" });
  if (page.stale()) { return; }
  renderCards(CALL_CARDS, summary);
  page.empty(summary.calls === 0);
  await Promise.all([
    panel("series-status", null, charts, ([answer, parts]) => {
      renderCharts(answer, parts, split);
      renderTable("series", answer.data, (r) => [
        [r.bucket.slice(0, 16).replace("T", " ")], [fmtInt(r.calls), "num"], [fmtInt(r.errorCalls), "num"],
        [usdExact(r.costUsd), "num"], [fmtInt(r.inputTokens), "num"], [fmtInt(r.outputTokens), "num"],
        [fmtInt(r.cacheReadTokens), "num"], [msExact(r.p50LatencyMs), "num"],
        [msExact(r.p95LatencyMs), "num"], [msExact(r.p99LatencyMs), "num"]]);
    }, page.stale, page.failed),
    panel("recent-status", "recent", recent, (body) => renderTable("recent", body.calls, (c) => [
      [when(c.time)], [c.model ?? "—"], [c.agentId ?? "—"], num("count", c.inputTokens),
      num("count", c.outputTokens), num("usd", c.costUsd), num("ms", c.latencyMs), status(c)],
    (c) => ({ title: "Open this call", go: () => page.open("calls", { call: `${c.traceId}/${c.spanId}` }) })),
    page.stale, page.failed),
  ]);
}

// -- models ------------------------------------------------------------------------------------

async function models(page) {
  await Promise.all(["model", "provider"].map((dimension) => {
    const table = dimension === "model" ? "models" : "providers";
    return panel(`${table}-status`, table, breakdown(page, dimension, table), (body) => {
      remember(dimension === "model" ? "models-seen" : "providers-seen", body.data.map((r) => r.key));
      renderTable(table, body.data, breakdownCells(dimension), drillBy(page, dimension));
    }, page.stale, page.failed);
  }));
}

// -- agents and runs -----------------------------------------------------------------------------

// A run's steps as a waterfall: each step a bar from its start to its end on the run's time line.
function renderWaterfall(run) {
  const total = Math.max(run.durationMs || 0, ...run.stepsInOrder.map((s) => (s.offsetMs || 0) + (s.durationMs || 0)), 1);
  $("run-title").textContent = `Run of ${run.agentId ?? run.agentName ?? "(no agent)"} at ${when(run.startTime)} UTC`;
  note("run-status", `${plural(run.steps, "step")} (${plural(run.llmCalls, "LLM call")}, ${plural(run.toolCalls, "tool")}), ` +
    `${FIGURES.ms[0](run.durationMs)}, ${FIGURES.usd[1](run.costUsd)}, ${fmtInt(run.totalTokens)} tokens, ${run.status}` +
    (run.sessionId ? `, session ${run.sessionId}` : ""), run.status === "error" ? "error" : "empty");
  const header = document.createElement("div");
  header.className = "step head";
  header.setAttribute("role", "row");
  header.append(...["Step", "Start", "Duration", "Tokens", "Cost", ""].map((text) => {
    const cell = Object.assign(document.createElement("span"), { textContent: text });
    cell.setAttribute("role", "columnheader");
    return cell;
  }));
  const rows = [{ type: "run", name: run.agentId ?? run.agentName ?? "run", depth: 0, offsetMs: 0,
    durationMs: run.durationMs, status: run.status, self: true }, ...run.stepsInOrder];
  $("waterfall").replaceChildren(header, ...rows.map((step) => {
    const row = document.createElement("div");
    row.className = `step ${step.type}` + (step.status === "error" ? " failed" : "");
    row.setAttribute("role", "row");
    const tokens = step.type === "call" ? (step.inputTokens ?? 0) + (step.outputTokens ?? 0) : null;
    const cells = [
      [`${"  ".repeat(step.depth || 0)}${step.type === "call" ? "LLM" : step.type}: ${step.name ?? "—"}`, "name"],
      [FIGURES.ms[0](step.offsetMs), "num"], [FIGURES.ms[0](step.durationMs), "num", FIGURES.ms[1](step.durationMs)],
      [tokens === null ? "" : FIGURES.count[0](tokens), "num"],
      [step.type === "call" ? FIGURES.usd[0](step.costUsd) : "", "num", step.type === "call" ? FIGURES.usd[1](step.costUsd) : ""],
    ];
    for (const [text, cls, exact] of cells) {
      const cell = document.createElement("span");
      cell.setAttribute("role", "cell");
      cell.className = cls;
      show(cell, text, exact);
      row.append(cell);
    }
    const lane = document.createElement("span");
    lane.className = "lane";
    lane.setAttribute("role", "cell");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.left = `${(100 * (step.offsetMs || 0)) / total}%`;
    bar.style.width = `${Math.max(0.4, (100 * (step.durationMs || 0)) / total)}%`;
    bar.title = `${step.name ?? step.type}: starts at +${msExact(step.offsetMs)}, lasts ${msExact(step.durationMs)}`;
    lane.append(bar);
    row.append(lane);
    return row;
  }));
}

async function agents(page) {
  const { range, filters } = page;
  const runs = ask("/api/runs", { ...range, ...filters, limit: 20 }, "runs");
  const byAgent = ask("/api/analytics/runs/breakdown/agent", { ...range, ...filters, sort: "runs", limit: 25 }, "run-agents");
  const calls = breakdown(page, "agent", "agents-table");
  const opened = $("run").value;
  $("run-panel").hidden = !opened;
  const run = opened ? api(`/api/runs/${opened}`) : null;
  const summary = await api("/api/analytics/runs", { ...range, ...filters, compare: "previous_period" });
  if (page.stale()) { return; }
  renderCards(RUN_CARDS, summary);
  await Promise.all([
    panel("run-agents-status", "run-agents", byAgent, (body) => renderTable("run-agents", body.data, (r) => [
      [r.key ?? "(no agent)"], num("count", r.runs), num("ratio", r.successRate), num("ms", r.avgDurationMs),
      num("ms", r.p95DurationMs), num("average", r.avgSteps), num("usd", r.costPerRunUsd), num("usd", r.costUsd)],
    drillBy(page, "agent"), "No agent runs in this range."), page.stale, page.failed),
    panel("agents-status", "agents-table", calls, (body) => {
      remember("agents", body.data.map((r) => r.key));
      renderTable("agents-table", body.data, (r) => [
        [r.other ? "(the rest)" : (r.key ?? "(no agent)")], num("count", r.calls), num("usd", r.costUsd),
        [r.percentageOfTotal.toFixed(2) + "%", "num"], changeCell(r.changes.costUsd), num("ms", r.p95LatencyMs),
        num("count", r.errorCalls)], drillBy(page, "agent"));
    }, page.stale, page.failed),
    panel("runs-status", "runs", runs, (body) => renderTable("runs", body.data, (r) => [
      [when(r.startTime)], [r.agentId ?? r.agentName ?? "—"], [r.sessionId ?? "—"], num("ms", r.durationMs),
      num("count", r.steps), num("count", r.totalTokens), num("usd", r.costUsd), status(r)],
    (r) => ({ title: "Show this run's steps", go: () => page.open("agents", { run: `${r.traceId}/${r.spanId}` }) }),
    "No agent runs in this range."), page.stale, page.failed),
    run && panel("run-status", null, run, renderWaterfall, page.stale, page.failed),
  ]);
}

// -- users -------------------------------------------------------------------------------------

async function users(page) {
  await panel("users-status", "users", breakdown(page, "user", "users", { limit: 50 }), (body) => {
    remember("users-seen", body.data.map((r) => r.key));
    renderTable("users", body.data, (r) => [
      [r.rank ?? "", "num"], [r.other ? "(the rest)" : (r.key ?? "(no user)")], num("count", r.calls),
      num("usd", r.costUsd), [r.percentageOfTotal.toFixed(2) + "%", "num"], changeCell(r.changes.costUsd),
      num("count", r.totalTokens), num("count", r.errorCalls)], drillBy(page, "user"), "No users in this range.");
  }, page.stale, page.failed);
}

// -- sessions ----------------------------------------------------------------------------------

async function sessions(page) {
  const { range, filters } = page;
  const offset = Number($("page").value) || 0;
  const list = ask("/api/analytics/sessions", { ...range, ...filters, limit: PAGE, offset }, "sessions");
  const opened = $("session").value;
  $("session-panel").hidden = !opened;
  // One session's calls in order: the API lists the newest first.
  const calls = opened ? ask("/api/calls", { ...range, ...filters, sessionId: opened, limit: 1000 }, "session-calls") : null;
  await Promise.all([
    panel("sessions-summary", "sessions", list, (body) => {
      const s = body.summary;
      note("sessions-summary", s.totalSessions ? `${fmtInt(s.totalSessions)} sessions: ` +
        `${FIGURES.average[0](s.avgCallsPerSession)} calls, ${FIGURES.usd[0](s.avgCostPerSessionUsd)} and ` +
        `${FIGURES.ms[0](s.avgDurationMs)} each on average` : "", "empty");
      renderTable("sessions", body.data, (r) => [
        [r.sessionId], [when(r.startedAt)], num("ms", r.durationMs), num("count", r.calls),
        num("count", r.totalTokens), num("usd", r.costUsd), num("count", r.errorCalls), [r.userId ?? "—"]],
      (r) => ({ title: "Show this session's calls", go: () => page.open("sessions", { session: r.sessionId }) }),
      "No sessions in this range.");
      renderPager("sessions", offset, PAGE, body.data.length, offset + body.data.length < s.totalSessions,
        (next) => page.open("sessions", { page: String(next) }));
    }, page.stale, page.failed),
    calls && panel("sessions-summary", "session-calls", calls, (body) => {
      const inOrder = [...body.calls].reverse();
      $("session-title").textContent = `Session ${opened}: ${plural(inOrder.length, "call")} in order`;
      renderTable("session-calls", inOrder, (c) => [
        [when(c.time)], [c.agentId ?? "—"], [c.model ?? "—"], num("count", c.inputTokens), num("count", c.outputTokens),
        num("usd", c.costUsd), num("ms", c.latencyMs), status(c)],
      (c) => ({ title: "Open this call", go: () => page.open("calls", { call: `${c.traceId}/${c.spanId}` }) }));
    }, page.stale, page.failed),
  ]);
}

// -- tags --------------------------------------------------------------------------------------

async function tags(page) {
  const { range, filters } = page;
  await panel("tag-keys-status", "tag-values", (async () => {
    const keys = await api("/api/analytics/tags", { ...range, ...filters });
    const select = $("tag-key"), wanted = select.value || select.dataset.wanted;
    select.replaceChildren(...keys.data.map((k) => new Option(`${k.key} (${fmtInt(k.values)} values, ${fmtInt(k.calls)} calls)`, k.key)));
    if (!keys.data.length) { throw Object.assign(new Error("No tags on the calls in this range."), { empty: true }); }
    select.value = keys.data.some((k) => k.key === wanted) ? wanted : keys.data[0].key;
    return breakdown(page, `tags.${select.value}`, "tag-values");
  })(), (body) => {
    const key = $("tag-key").value;
    renderTable("tag-values", body.data, (r) => [
      [r.other ? "(the rest)" : (r.key ?? `(no ${key})`)], num("count", r.calls), num("usd", r.costUsd),
      [r.percentageOfTotal.toFixed(2) + "%", "num"], changeCell(r.changes.costUsd), num("count", r.totalTokens),
      num("ms", r.p95LatencyMs), num("count", r.errorCalls)],
    (r) => (r.other || r.key === null ? null : { title: `Show only ${key}:${r.key}`, go: () => page.drill({ tag: `${key}:${r.key}` }) }));
  }, page.stale, page.failed);
}

// -- anomalies ---------------------------------------------------------------------------------

// A stored anomaly's status, with a button to dismiss it while it is not (an admin key's right:
// the API's refusal shows in the panel otherwise).
function dismissal(page, anomaly) {
  const cell = document.createElement("span");
  cell.textContent = anomaly.status;
  if (anomaly.status === "dismissed") { return cell; }
  cell.append(" ", cellButton("dismiss", async () => {
    try {
      await api(`/api/analytics/anomalies/${encodeURIComponent(anomaly.id)}/dismiss`, {}, "POST");
      page.refresh();
    } catch (error) {
      note("anomalies-status", said(error), "error");
    }
  }));
  return cell;
}

async function anomalies(page) {
  const { range, filters } = page;
  // Stored anomalies are the project's as a whole: the API takes no filters with a status.
  const stored = $("anomaly-status").value;
  const answer = ask("/api/analytics/anomalies", stored ? { ...range, status: stored } : { ...range, ...filters }, "anomalies");
  await panel("anomalies-status", "anomalies", answer, (body) => {
    renderTable("anomalies", body.data, (a) => [
      [a.hour.slice(0, 16).replace("T", " ")], [a.severity, "severity-" + a.severity],
      [a.type.replaceAll("_", " ")], [a.scope === "project" ? "project" : `${a.scope} ${a.scopeKey}`],
      [a.description], [a.status ? dismissal(page, a) : "—"]], null, "No anomalies in this range.");
  }, page.stale, page.failed);
}

// -- calls -------------------------------------------------------------------------------------

// One call's fields, in the order a reader looks for them: [label, field, kind].
const CALL_FIELDS = [
  ["Time (UTC)", "time"], ["Status", "status"], ["Error", "errorType"], ["Provider", "provider"],
  ["Model", "model"], ["Model asked for", "requestModel"], ["Model that answered", "responseModel"],
  ["Operation", "operation"], ["Streaming", "streaming"], ["Agent", "agentId"], ["Agent name", "agentName"],
  ["Session", "sessionId"], ["User", "userId"], ["Service", "service"], ["Environment", "environment"],
  ["Input tokens", "inputTokens", "count"], ["Output tokens", "outputTokens", "count"],
  ["Cache read tokens", "cacheReadTokens", "count"], ["Cache write tokens", "cacheWriteTokens", "count"],
  ["Reasoning tokens", "reasoningTokens", "count"], ["Cost (USD)", "costUsd", "usd"], ["Priced by", "costSource"],
  ["Latency", "latencyMs", "ms"], ["Time to first token", "timeToFirstChunkMs", "ms"],
  ["Trace id", "traceId"], ["Span id", "spanId"], ["Parent span id", "parentSpanId"],
  ["Response id", "responseId"], ["Instrumentation", "instrumentation"],
];

function renderCall(call, page) {
  $("call-title").textContent = `Call at ${when(call.time)} UTC`;
  const items = [];
  for (const [label, field, kind] of CALL_FIELDS) {
    const value = call[field];
    if (missing(value)) { continue; }
    const dd = document.createElement("dd");
    if (kind) { show(dd, FIGURES[kind][1](value)); } else { dd.textContent = String(value); }
    if (field === "sessionId") {  // the session's other calls, in order
      dd.append(" ", cellButton("its calls", () => page.open("sessions", { session: value })));
    }
    items.push(Object.assign(document.createElement("dt"), { textContent: label }), dd);
  }
  for (const [key, value] of Object.entries(call.tags)) {
    items.push(Object.assign(document.createElement("dt"), { textContent: `Tag ${key}` }),
      Object.assign(document.createElement("dd"), { textContent: typeof value === "string" ? value : JSON.stringify(value) }));
  }
  $("call-detail").replaceChildren(...items);
}

async function calls(page) {
  const { range, filters } = page;
  const offset = Number($("page").value) || 0;
  // One more than a page: whether there is a next one.
  const list = ask("/api/calls", { ...range, ...filters, limit: PAGE + 1, offset }, "calls");
  const opened = $("call").value;
  $("call-panel").hidden = !opened;
  await Promise.all([
    panel("calls-status", "calls", list, (body) => {
      const shown = body.calls.slice(0, PAGE);
      remember("models-seen", shown.map((c) => c.model));
      remember("users-seen", shown.map((c) => c.userId));
      renderTable("calls", shown, (c) => [
        [when(c.time)], [c.model ?? "—"], [c.agentId ?? "—"], [c.userId ?? "—"], num("count", c.inputTokens),
        num("count", c.outputTokens), num("usd", c.costUsd), num("ms", c.latencyMs), status(c)],
      (c) => ({ title: "Open this call", go: () => page.open("calls", { call: `${c.traceId}/${c.spanId}` }) }),
      "No calls in this range.");
      renderPager("calls", offset, PAGE, shown.length, body.calls.length > PAGE,
        (next) => page.open("calls", { page: String(next), call: "" }));
    }, page.stale, page.failed),
    opened && panel("call-status", null, api(`/api/calls/${opened}`), (call) => renderCall(call, page),
      page.stale, page.failed),
  ]);
}

// -- prices ------------------------------------------------------------------------------------

const PER_MTOK = ["inputPerMTok", "outputPerMTok", "cacheReadPerMTok", "cacheWritePerMTok", "perCall"];

async function prices(page) {
  const list = await api("/api/prices");
  if (page.stale()) { return; }
  const tokens = { inputTokens: $("calc-input").value || 0, outputTokens: $("calc-output").value || 0 };
  // What a call of those tokens costs under each price: the API prices it (at the price's start).
  const costs = await Promise.all(list.prices.map((p) => api("/api/prices/resolve", {
    model: p.model, provider: p.provider, at: p.effectiveFrom, ...tokens }).catch(() => null)));
  if (page.stale()) { return; }
  renderTable("prices", list.prices.map((p, i) => ({ ...p, call: costs[i] && costs[i].custom && costs[i].custom.id === p.id ? costs[i].call : null })), (p) => [
    [p.provider ?? "any"], [p.model], ...PER_MTOK.map((field) => num("usd", p[field])),
    [p.effectiveFrom.startsWith("1970-01-01T00:00:00") ? "always" : when(p.effectiveFrom)],
    [p.effectiveTo ? when(p.effectiveTo) : "open"],
    p.call ? num("usd", p.call.costUsd) : ["(another price applies)", "num"],
    [cellButton("delete", async () => {
      try {
        await api(`/api/prices/${p.id}`, {}, "DELETE");
        page.refresh();
      } catch (error) {
        note("prices-status", said(error), "error");
      }
    })]], null, "No custom prices: every call is priced from the catalog.");
}

export async function addPrice(form, page) {
  const body = {};
  for (const [name, value] of new FormData(form)) {
    if (value === "") { continue; }
    body[name] = PER_MTOK.includes(name) ? Number(value) : name === "effectiveFrom" ? new Date(value + "Z").toISOString() : value;
  }
  try {
    await api("/api/prices", {}, "POST", body);
    form.reset();
    note("prices-status", `Added a price for ${body.model}.`, "empty");
    page.refresh();
  } catch (error) {
    note("prices-status", said(error), "error");
  }
}

export async function resolvePrice(form) {
  const params = Object.fromEntries(new FormData(form));
  try {
    const answer = await api("/api/prices/resolve", { ...params, inputTokens: $("calc-input").value || 0, outputTokens: $("calc-output").value || 0 });
    const price = answer.custom ? `custom price #${answer.custom.id}` : answer.catalog ? `catalog (${answer.catalog.model})` : "no price (calls are unpriced)";
    note("resolve-result", `${answer.model}: ${price}; a call of ${fmtInt(answer.call.inputTokens)} input and ` +
      `${fmtInt(answer.call.outputTokens)} output tokens costs ${usdExact(answer.call.costUsd)}.`, "empty");
  } catch (error) {
    note("resolve-result", said(error), "error");
  }
}

// Every view by its name in the URL (`#view=...`).
export const VIEWS = { overview, models, agents, users, sessions, tags, anomalies, calls, prices };
