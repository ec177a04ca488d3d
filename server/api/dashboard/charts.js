// The charts: uPlot (server/api/dashboard/vendor, from npm), one per measure, over
// /api/analytics/timeseries in the chosen time zone with empty buckets filled with zeros.
// Each chart's legend shows the exact figures of the bucket under the cursor. Split by a
// dimension, the additive measures (calls, cost, tokens) stack its top values and the rest
// ("other"), and latency and error rate draw one line per value.

import { fmtCount, fmtInt, fmtMs, fmtUsd, msExact, pct, usdExact } from "./format.js";
import { $ } from "./ui.js";

const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#0c8599"];
const OTHER = "#868e96";
const errorRate = (row) => row.calls ? row.errorCalls / row.calls : null;
const rateExact = (n) => n === null || n === undefined ? "—" : (100 * n).toLocaleString("en-US", { maximumFractionDigits: 2 }) + "%";

// Per chart: its series as totals, and the one measure it shows per value when split
// (`stacked`: the values add up to the total, so they stack).
const CHARTS = [
  { id: "chart-calls", bars: true, short: fmtCount, series: [
    ["Calls", (r) => r.calls, fmtInt], ["Errors", (r) => r.errorCalls, fmtInt]],
    split: [(r) => r.calls, fmtInt, true], splitCaption: "Calls" },
  { id: "chart-cost", short: fmtUsd, series: [["Cost (USD)", (r) => r.costUsd, usdExact]],
    split: [(r) => r.costUsd, usdExact, true] },
  { id: "chart-tokens", short: fmtCount, series: [
    ["Input", (r) => r.inputTokens, fmtInt], ["Output", (r) => r.outputTokens, fmtInt],
    ["Cache read", (r) => r.cacheReadTokens, fmtInt]],
    split: [(r) => r.inputTokens + r.outputTokens, fmtInt, true],
    splitCaption: "Tokens (input + output)" },
  { id: "chart-latency", short: fmtMs, series: [
    ["p50", (r) => r.p50LatencyMs, msExact], ["p95", (r) => r.p95LatencyMs, msExact],
    ["p99", (r) => r.p99LatencyMs, msExact]],
    split: [(r) => r.p95LatencyMs, msExact, false], splitCaption: "p95 latency (approx.)" },
  { id: "chart-errors", short: pct, series: [["Error rate", errorRate, rateExact]],
    split: [errorRate, rateExact, false] },
];
const plots = [];
let drawn = null;  // what was drawn last, to draw again in the other palette or width

// The series of one chart: [{ label, values (drawn), shown (the legend's) , exact }].
function seriesOf(chart, total, parts) {
  if (!parts) {
    return chart.series.map(([label, value, exact], i) => {
      const values = total.data.map(value);
      return { label, values, shown: values, exact, colour: PALETTE[i] };
    });
  }
  const [value, exact, stacked] = chart.split;
  // A value keeps its colour in every chart.
  const own = parts.map((part, i) => ({ label: part.label, shown: part.rows.map(value), colour: PALETTE[i] }));
  if (!stacked) {
    return own.map((s) => ({ ...s, values: s.shown, exact }));
  }
  // The rest of the total, when the top values do not make all of it.
  const rest = total.data.map((row, i) => value(row) - own.reduce((sum, s) => sum + (s.shown[i] || 0), 0));
  if (rest.some((n) => Math.abs(n) > 1e-9)) {
    own.push({ label: "other", shown: rest.map((n) => Math.max(0, Number(n.toFixed(9)))), colour: OTHER });
  }
  // Cumulative from the first value up; drawn top first, so each lower one paints over it.
  let running = total.data.map(() => 0);
  const stackedSeries = own.map((s) => {
    running = running.map((n, i) => n + (s.shown[i] || 0));
    return { ...s, values: running, exact };
  });
  return stackedSeries.reverse();
}

// `total` is the timeseries answer; `parts`, when split, [{ label, rows }] aligned with it.
// `by` names the dimension split by.
export function renderCharts(total, parts, by) {
  drawn = [total, parts, by];
  const zone = total.timeZone;
  const times = total.data.map((r) => Date.parse(r.bucket) / 1000);
  while (plots.length) { plots.pop().destroy(); }
  // Canvas colours from the page's (light or dark) palette: a canvas knows no CSS variables.
  const css = getComputedStyle(document.documentElement);
  const ink = css.getPropertyValue("--muted").trim(), line = css.getPropertyValue("--line").trim();
  for (const chart of CHARTS) {
    const figure = $(chart.id);
    const caption = figure.querySelector("figcaption");
    caption.dataset.total ??= caption.textContent;
    caption.textContent = parts ? `${chart.splitCaption || caption.dataset.total} by ${by}` : caption.dataset.total;
    const target = figure.querySelector(".plot");
    const series = seriesOf(chart, total, parts);
    const stacked = parts && chart.split[2];
    const options = {
      width: Math.max(240, target.clientWidth), height: 200,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone),
      scales: { x: { time: true } },
      axes: [{ stroke: ink, grid: { stroke: line }, ticks: { stroke: line } },
             { stroke: ink, grid: { stroke: line }, ticks: { stroke: line }, size: 60,
               values: (u, ticks) => ticks.map(chart.short) }],
      series: [{ label: "Bucket" }, ...series.map((s) => {
        const colour = s.colour;
        return {
          label: s.label, stroke: colour, width: 2,
          // The legend shows a value's own figure, not its stacked height.
          value: (u, v, seriesIndex, index) => s.exact(index === null || index === undefined ? null : s.shown[index]),
          ...(chart.bars && !parts ? { fill: colour + "99", paths: uPlot.paths.bars({ size: [0.7, 40] }) } : {}),
          ...(stacked ? { fill: colour + "cc" } : {}),
        };
      })],
    };
    plots.push(new uPlot(options, [times, ...series.map((s) => s.values)], target));
  }
}

export function redrawCharts() {
  if (drawn) { renderCharts(...drawn); }
}

export function resizeCharts() {
  for (const plot of plots) { plot.setSize({ width: Math.max(240, plot.root.parentElement.clientWidth), height: 200 }); }
}
