// SpanTally dashboard: plain JavaScript modules over the public API, no build step. This module
// holds the page's state (in the URL's fragment), the filters, and the views' router; views.js
// asks the API for each view, charts.js draws, format.js says how figures read.

import { apiKey, downloadCsv, forgetApiKey, said, setApiKey } from "./api.js";
import { redrawCharts, resizeCharts } from "./charts.js";
import { $, note } from "./ui.js";
import { VIEWS, addPrice, resolvePrice } from "./views.js";

// The page's state is its controls' values, and it lives in the URL's fragment so a view can be
// bookmarked and shared: `/#view=models&range=30d&model=gpt-4o`. The key never goes there.
// `run`, `session`, `call` and `page` are what is open in a view (hidden inputs).
const URL_STATE = ["view", "range", "from", "to", "granularity", "tz", "agent", "model", "provider",
  "user", "tag", "status-filter", "stack", "anomaly-status", "tag-key", "run", "session", "call", "page"];
// Where each filter goes in the API's questions.
const FILTERS = { agent: "agentId", model: "model", provider: "provider", user: "userId", tag: "tags",
  "status-filter": "status" };
// What a view opens is forgotten when the question changes.
const OPENED = ["run", "session", "call", "page"];
const DEFAULTS = { view: "overview", range: "7d", granularity: "day", page: "0" };

let refreshes = 0;  // numbers each refresh: a slower, older one must not paint over a newer one

function showKeyForm(message) {
  $("dashboard").hidden = true;
  $("change-key").hidden = true;
  $("key-form").hidden = false;
  if (message) {
    const status = $("key-form").querySelector(".status") || $("key-entry").appendChild(
      Object.assign(document.createElement("div"), { className: "status" }));
    status.textContent = message;
    status.className = "status error";
  }
}

function range() {
  const choice = $("range").value;
  if (choice === "custom") {
    const from = $("from").value, to = $("to").value;
    return { from: from ? new Date(from + "Z").toISOString() : null, to: to ? new Date(to + "Z").toISOString() : null };
  }
  const now = new Date();
  const hours = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30 }[choice];
  return { from: new Date(now - hours * 3600e3).toISOString(), to: now.toISOString() };
}

function writeUrlState() {
  const custom = $("range").value === "custom";
  const entries = URL_STATE.map((id) => [id, $(id).value.trim()])
    .filter(([id, value]) => value && value !== DEFAULTS[id] && (custom || (id !== "from" && id !== "to")));
  const fragment = "#" + new URLSearchParams(entries);
  if (location.hash !== fragment) { history.replaceState(null, "", fragment); }
}

function readUrlState() {
  const given = new URLSearchParams(location.hash.slice(1));
  for (const id of URL_STATE) {
    const control = $(id);
    const value = given.get(id) ?? DEFAULTS[id] ?? (control.tagName === "SELECT" ? control.options[0]?.value ?? "" : "");
    if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === value)) {
      // A tag key not listed yet: chosen once the keys are in.
      if (id === "tag-key") { control.dataset.wanted = value; }
      continue;
    }
    control.value = value;
  }
  if (!VIEWS[$("view").value]) { $("view").value = "overview"; }
  $("custom-range").hidden = $("range").value !== "custom";
}

function showView() {
  const view = $("view").value;
  for (const section of document.querySelectorAll(".view")) { section.hidden = section.dataset.view !== view; }
  for (const link of $("nav").querySelectorAll("a")) {
    if (link.dataset.view === view) { link.setAttribute("aria-current", "page"); } else { link.removeAttribute("aria-current"); }
  }
  // The controls a view does not use are hidden (the overview's granularity, the charts' split).
  document.body.dataset.view = view;
}

function failed(error) {
  forgetApiKey();
  showKeyForm(`That API key was refused (${error.code}): enter a valid key.`);
}

// What every view is given (views.js says how it is used).
function pageFor(generation) {
  const filters = {};
  for (const [control, param] of Object.entries(FILTERS)) { filters[param] = $(control).value.trim(); }
  return {
    range: range(), filters,
    stale: () => generation !== refreshes,
    failed,
    refresh,
    empty: (none) => note("status", none ? "No calls in this range. Widen the range, clear the filters, or send some: " +
      "`spantally demo` makes a week of sample traffic, and the README shows how to instrument your code." : "", "empty"),
    // Filter everything by these controls' values, and show the overview.
    drill: (values) => go({ ...values, view: "overview" }),
    // Open something in a view: a run, a session, a call, a page of a list.
    open: (view, values) => go({ ...values, view }),
  };
}

// Sets controls (a new question forgets what was open) and refreshes.
function go(values) {
  const changesQuestion = Object.keys(values).some((id) => !OPENED.includes(id) && id !== "view");
  const leaving = values.view && values.view !== $("view").value;
  if (changesQuestion || leaving) {
    for (const id of OPENED) { if (!(id in values)) { $(id).value = id === "page" ? "0" : ""; } }
  }
  for (const [id, value] of Object.entries(values)) { $(id).value = value; }
  refresh();
  window.scrollTo({ top: 0 });
}

async function refresh() {
  writeUrlState();
  showView();
  const generation = ++refreshes;
  const page = pageFor(generation);
  note("status", "Loading…");
  // Busy until every panel of the view is in (assistive technology waits for it; so do the tests).
  $("dashboard").setAttribute("aria-busy", "true");
  try {
    await VIEWS[$("view").value](page);
    if (page.stale()) { return; }
    if ($("status").textContent === "Loading…") { note("status", ""); }
  } catch (error) {
    if (page.stale()) { return; }
    if (error.status === 401 || error.status === 403) { failed(error); } else { note("status", said(error), "error"); }
  }
  $("dashboard").setAttribute("aria-busy", "false");
}

// Every zone the browser knows, its own first (the default).
function fillZones() {
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const zones = new Set([own, "UTC", ...(Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [])]);
  $("tz").replaceChildren(...[...zones].map((zone) => new Option(zone === own ? `${zone} (this browser)` : zone, zone)));
  DEFAULTS.tz = own;
}

function showDashboard() {
  $("key-form").hidden = true;
  $("dashboard").hidden = false;
  $("change-key").hidden = false;
  refresh();
}

function start() {
  fillZones();
  readUrlState();
  window.addEventListener("hashchange", () => { readUrlState(); if (apiKey()) { refresh(); } });
  $("key-entry").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey($("api-key").value.trim());
    $("api-key").value = "";
    showDashboard();
  });
  $("change-key").addEventListener("click", () => { forgetApiKey(); showKeyForm(); });
  for (const link of document.querySelectorAll("a[data-view]")) {
    link.addEventListener("click", (event) => { event.preventDefault(); go({ view: link.dataset.view }); });
  }
  for (const button of document.querySelectorAll("button.csv")) {
    button.addEventListener("click", (event) => {
      event.preventDefault();  // inside a <summary>: no toggle
      downloadCsv(button.dataset.table).catch((error) => note("status", said(error), "error"));
    });
  }
  $("range").addEventListener("change", () => {
    $("custom-range").hidden = $("range").value !== "custom";
    if ($("range").value !== "custom") { go({ range: $("range").value }); }
  });
  // Text filters apply on change (Enter or leaving the field); choices at once.
  for (const id of ["from", "to", "granularity", "tz", ...Object.keys(FILTERS), "stack", "anomaly-status", "tag-key"]) {
    $(id).addEventListener("change", () => go({ [id]: $(id).value }));
  }
  $("controls").addEventListener("submit", (event) => { event.preventDefault(); go({}); });
  $("clear-filters").addEventListener("click", () => go(Object.fromEntries(Object.keys(FILTERS).map((id) => [id, ""]))));
  for (const id of ["calc-input", "calc-output"]) { $(id).addEventListener("change", refresh); }
  $("price-form").addEventListener("submit", (event) => { event.preventDefault(); addPrice(event.target, { refresh }); });
  $("resolve-form").addEventListener("submit", (event) => { event.preventDefault(); resolvePrice(event.target); });
  // The system switching between light and dark: the canvases are drawn again in its colours.
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawCharts);
  window.addEventListener("resize", resizeCharts);
  if (apiKey()) { showDashboard(); } else { showKeyForm(); }
}

start();
