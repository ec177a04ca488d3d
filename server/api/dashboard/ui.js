// Page pieces every view uses: status lines, tables (with rows that open or filter), pagers.

import { said } from "./api.js";
import { show } from "./format.js";

export const $ = (id) => document.getElementById(id);

// A panel's own status line (or the page's).
export function note(id, message, kind) {
  $(id).textContent = message || "";
  $(id).className = "status" + (kind && message ? " " + kind : "");
}

// `open(row)`, when given, says what a row leads to ({ title, go }): clicking the row, or Enter
// on it, goes there (rows are focusable, so the keyboard reaches them).
export function renderTable(id, rows, cells, open, empty = "Nothing in this range.") {
  const body = $(id).querySelector("tbody");
  if (!rows.length) {
    const td = Object.assign(document.createElement("td"), { className: "empty", textContent: empty });
    td.colSpan = $(id).querySelectorAll("thead th").length;
    const tr = document.createElement("tr");
    tr.append(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    const target = open && open(row);
    if (target) {
      tr.className = "drill";
      tr.tabIndex = 0;
      tr.title = target.title;
      tr.addEventListener("click", (event) => { if (!event.target.closest("button")) { target.go(); } });
      tr.addEventListener("keydown", (event) => { if (event.key === "Enter" && event.target === tr) { target.go(); } });
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

// A panel's question answered in place: a refusal (e.g. a range no aggregate can answer) says
// why in the panel's status line, and the rest of the view still shows. 401/403 go to `failed`.
export async function panel(statusId, tableId, answer, render, stale, failed) {
  try {
    note(statusId, "");
    const body = await answer;
    if (!stale()) { render(body); }
  } catch (error) {
    if (stale()) { return; }
    if (error.status === 401 || error.status === 403) { failed(error); return; }
    if (tableId) { $(tableId).querySelector("tbody").replaceChildren(); }
    note(statusId, error.empty ? error.message : said(error), error.empty ? "empty" : "error");
  }
}

// A pager under a table: `offset` rows skipped of pages of `size`; `more` whether there are more.
export function renderPager(name, offset, size, shown, more, go) {
  const pager = document.querySelector(`.pager[data-for="${name}"]`);
  pager.querySelector(".where").textContent = shown ? `${offset + 1}–${offset + shown}` : "";
  const prev = pager.querySelector(".prev"), next = pager.querySelector(".next");
  prev.disabled = offset === 0;
  next.disabled = !more;
  prev.onclick = () => go(Math.max(0, offset - size));
  next.onclick = () => go(offset + size);
}

// A small button in a table cell (dismiss, delete) that does not open the row.
export function cellButton(text, onClick) {
  const button = Object.assign(document.createElement("button"), { type: "button", className: "link cell", textContent: text });
  button.addEventListener("click", onClick);
  return button;
}
