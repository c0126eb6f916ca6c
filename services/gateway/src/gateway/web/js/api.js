// The one way to the gateway: /api/v1 with the bearer token, one refresh at a time on
// 401, and RFC 9457 problem+json (or no answer at all) turned into ApiError.

const BASE = "/api/v1";
const KEY = "kohtaamo.session";
export const PROBLEMS = "https://kohtaamo.fi/problems/";
// Fired once when the session cannot be renewed, so the header and page can follow.
export const SESSION_ENDED = "kohtaamo:session-ended";

export class ApiError extends Error {
  constructor(status, problem, correlationId = null) {
    super(problem.title || `HTTP ${status}`);
    this.status = status; // 0: no answer (offline, or the server could not be reached)
    this.problem = problem;
    this.correlationId = problem.correlation_id || correlationId;
  }
}

function decode(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

export const session = {
  load() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY)) || null;
    } catch {
      return null;
    }
  },
  save(tokens) {
    sessionStorage.setItem(
      KEY,
      JSON.stringify({ access: tokens.access_token, refresh: tokens.refresh_token }),
    );
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
  claims() {
    const s = this.load();
    return s ? decode(s.access) : null;
  },
  user() {
    const c = this.claims();
    if (!c || !c.sub) return null;
    return { id: c.sub, municipality: c.municipality, roles: c.roles || [], name: c.name };
  },
  has(...roles) {
    const u = this.user();
    return !!u && roles.some((r) => u.roles.includes(r));
  },
};

let language = "fi";
export function setApiLanguage(lang) {
  language = lang;
}

export function url(path, query) {
  const u = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) u.searchParams.append(k, item);
  }
  return u.pathname + u.search;
}

// fetch() that turns "Failed to fetch" into an ApiError the UI can explain.
async function reach(target, init) {
  try {
    return await fetch(target, init);
  } catch {
    throw new ApiError(0, { type: PROBLEMS + "offline", title: "No answer" });
  }
}

async function send(method, path, { body, query, headers: extra } = {}, s = session.load()) {
  const headers = { Accept: "application/json", "Accept-Language": language, ...extra };
  if (s) headers.Authorization = `Bearer ${s.access}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return reach(url(path, query), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function endSession() {
  if (!session.load()) return;
  session.clear();
  window.dispatchEvent(new CustomEvent(SESSION_ENDED));
}

async function refresh() {
  const s = session.load();
  if (!s) return false;
  const response = await reach(url("/auth/refresh"), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ refresh_token: s.refresh }),
  });
  if (response.status === 401 || response.status === 403) {
    endSession();
    return false;
  }
  if (!response.ok) throw await problemOf(response); // a server error: the session may live
  session.save(await response.json());
  return true;
}

// Refresh tokens are single-use: calls that fail together share one refresh, or the
// second refresh would spend an already used token and end the session.
let refreshing = null;
function refreshOnce() {
  if (!refreshing) refreshing = refresh().finally(() => { refreshing = null; });
  return refreshing;
}

// After the account changed what the token says (a birth date): a fresh access token.
export const renewSession = () => refreshOnce();

async function problemOf(response) {
  let problem = { title: response.statusText };
  try {
    problem = await response.json();
  } catch {
    /* not JSON */
  }
  return new ApiError(response.status, problem, response.headers.get("X-Correlation-ID"));
}

const sessionEnded = () =>
  new ApiError(401, { type: PROBLEMS + "session-ended", title: "Session ended" });

export async function raw(method, path, options = {}) {
  const sent = session.load();
  let response = await send(method, path, options, sent);
  if (response.status === 401 && sent) {
    const now = session.load();
    // Another call may have refreshed meanwhile: then just retry with its token.
    const renewed = now && now.access !== sent.access ? true : now && (await refreshOnce());
    if (!renewed) throw sessionEnded();
    response = await send(method, path, options);
    if (response.status === 401) {
      endSession();
      throw sessionEnded();
    }
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

export async function api(method, path, options = {}) {
  const response = await raw(method, path, options);
  if (response.status === 204) return null;
  return response.json();
}

// A single resource with its ETag, to send a change back with If-Match: of two people
// editing the same thing, the second gets 412 instead of overwriting the first.
export async function getTagged(path) {
  const response = await raw("GET", path);
  return { body: await response.json(), etag: response.headers.get("ETag") };
}

export async function patchIfMatch(path, body, etag) {
  const response = await raw("PATCH", path, { body, headers: etag ? { "If-Match": etag } : {} });
  return { body: await response.json(), etag: response.headers.get("ETag") };
}

export const get = (path, query) => api("GET", path, { query });
// A collection whole (pages, docs/api.md "Collections"): the first page with the items of
// every page, its `next` links followed as they are, at most `pages` pages (a bound
// against a runaway list).
export async function getPages(path, query, pages = 20) {
  const first = await get(path, query);
  const items = [...first.items];
  let page = first;
  for (let n = 1; page.next && n < pages; n++) {
    const link = new URL(page.next, location.origin);
    const next = {};
    for (const [k, v] of link.searchParams) (next[k] ??= []).push(v);
    page = await get(link.pathname.slice(link.pathname.indexOf(BASE) + BASE.length), next);
    items.push(...page.items);
  }
  return { ...first, items, next: null };
}

// Every item of a collection.
export const getAll = async (path, query, pages) => (await getPages(path, query, pages)).items;
export const post = (path, body) => api("POST", path, { body: body ?? {} });
export const put = (path, body) => api("PUT", path, { body });
export const patch = (path, body) => api("PATCH", path, { body });
export const del = (path) => api("DELETE", path);

// Downloads a file that needs the token (exports): fetched, then saved from a blob URL.
export async function download(path, query, filename) {
  const response = await raw("GET", path, { query });
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  return blob;
}
