// Readable figures: short on the page, exact in the element's title (shown on hover). One table
// (FIGURES) says how each kind of figure shows, so cards, tables and charts agree.

const COMPACT = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
// A figure without a value (no calls, or a chart's cursor off every point) shows as "—".
export const missing = (n) => n === null || n === undefined;
export const fmtInt = (n) => missing(n) ? "—" : n.toLocaleString("en-US");
// Counts below 10,000 are short enough whole; above, 324,401,897 reads as 324.4M.
export const fmtCount = (n) => missing(n) || Math.abs(n) < 1e4 ? fmtInt(n) : COMPACT.format(n);
// Averages of counts (steps per run): one decimal.
const fmtAverage = (n) => missing(n) ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: 1 });
const averageExact = (n) => missing(n) ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: 3 });

export function fmtUsd(n) {
  if (missing(n)) { return "—"; }
  if (Math.abs(n) >= 1e5) { return "$" + COMPACT.format(n); }
  // A call's cost is often below a cent: two significant digits keep it from showing $0.00.
  const digits = n === 0 || Math.abs(n) >= 0.01 ? { minimumFractionDigits: 2, maximumFractionDigits: 2 }
    : { maximumSignificantDigits: 2 };
  return "$" + n.toLocaleString("en-US", digits);
}
export const usdExact = (n) => missing(n) ? "—" : "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 9 });

export function fmtMs(n) {
  if (missing(n)) { return "—"; }
  if (Math.abs(n) >= 60_000) {
    const minutes = Math.floor(n / 60_000);
    return `${minutes} min ${Math.round((n - minutes * 60_000) / 1000)} s`;
  }
  if (Math.abs(n) >= 1000) { return (n / 1000).toLocaleString("en-US", { maximumFractionDigits: 2 }) + " s"; }
  return n.toLocaleString("en-US", { maximumFractionDigits: Math.abs(n) >= 100 ? 0 : 1 }) + " ms";
}
export const msExact = (n) => missing(n) ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: 3 }) + " ms";

// A ratio (0..1) as a percentage.
export const pct = (n) => missing(n) ? "—" : (100 * n).toLocaleString("en-US", { maximumFractionDigits: 1 }) + "%";
const pctExact = (n) => missing(n) ? "—" : (100 * n).toLocaleString("en-US", { maximumFractionDigits: 4 }) + "%";

// Each kind of figure: [short, exact].
export const FIGURES = {
  count: [fmtCount, fmtInt], usd: [fmtUsd, usdExact], ms: [fmtMs, msExact],
  ratio: [pct, pctExact], average: [fmtAverage, averageExact],
};

// A table cell of a figure: short, right-aligned, exact on hover.
export const num = (kind, n) => [FIGURES[kind][0](n), "num", FIGURES[kind][1](n)];

// Shows `text`, with `exact` on hover when it says more.
export function show(element, text, exact) {
  element.textContent = text;
  if (exact && exact !== text) { element.title = exact; } else { element.removeAttribute("title"); }
}

export function showFigure(element, kind, n) {
  show(element, FIGURES[kind][0](n), FIGURES[kind][1](n));
}

// A time as the API gives it (UTC), to the second, for tables.
export const when = (iso) => iso ? iso.slice(0, 19).replace("T", " ") : "—";

// A change against the period before, as a breakdown row's `changes.<measure>` gives it.
export function changeCell(change) {
  const percent = change.changePercent === null ? (change.current ? "new" : "—")
    : (change.changePercent > 0 ? "+" : "") + change.changePercent.toFixed(1) + "%";
  return [percent, "num " + (change.trend === "up" ? "up" : change.trend === "down" ? "down" : "")];
}
