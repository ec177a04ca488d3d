// The public API, as the page asks it: one request function for JSON answers, CSV downloads,
// and changes (POST, DELETE). The key stays in this tab's session storage.

const KEY_STORAGE = "spantally.apiKey";

export const apiKey = () => sessionStorage.getItem(KEY_STORAGE);
export const setApiKey = (key) => sessionStorage.setItem(KEY_STORAGE, key);
export const forgetApiKey = () => sessionStorage.removeItem(KEY_STORAGE);

// The API's answer to a request, or an Error with the API's code and message.
export async function request(path, params = {}, method = "GET", body = undefined) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  const headers = { Authorization: `Bearer ${apiKey()}` };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; }
  let response;
  try {
    response = await fetch(`${path}?${query}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw Object.assign(new Error("Cannot reach the SpanTally API: is `spantally up` running?"), { code: "UNREACHABLE" });
  }
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    const error = answer.error || { code: `HTTP_${response.status}`, message: response.statusText };
    throw Object.assign(new Error(error.message), { code: error.code, status: response.status });
  }
  return response;
}

export async function api(path, params = {}, method = "GET", body = undefined) {
  const response = await request(path, params, method, body);
  return response.status === 204 ? {} : response.json().catch(() => ({}));
}

// Each table's question, as last asked: its CSV button asks the API the same with format=csv.
const TABLE_QUESTIONS = {};

// Asks the API, remembering the question as `table`'s (for its CSV button).
export function ask(path, params, table) {
  TABLE_QUESTIONS[table] = { path, params };
  return api(path, params);
}

export async function downloadCsv(table) {
  const question = TABLE_QUESTIONS[table];
  if (!question) { return; }
  const response = await request(question.path, { ...question.params, format: "csv" });
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(await response.blob()), download: name ? name[1] : table + ".csv" });
  link.click();
  URL.revokeObjectURL(link.href);
}

// An error as the page shows it: the API's message and code.
export const said = (error) => error.message + (error.code ? ` (${error.code})` : "");
