// The JSON API client every page uses. Errors become ApiError with the server's {detail}, so the
// pages can show exactly what the server said (wrong password, retry time, login taken, ...).

export class ApiError extends Error {
  constructor(status, detail, { retryAfter = null } = {}) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

// Wording for statuses whose body carries no usable {detail} (a proxy page, an empty body).
const FALLBACK = {
  400: 'The request was not accepted.',
  401: 'Your session has ended; please sign in again.',
  403: 'That is not allowed.',
  404: 'Not found.',
  409: 'That conflicts with the current state.',
  413: 'That is too large.',
  429: 'Too many attempts; please wait a moment.',
  500: 'The server hit an error; please try again.',
  502: 'The server is unreachable right now.',
  503: 'The service is busy or unavailable; please try again shortly.',
};

export function fallbackMessage(status) {
  return FALLBACK[status] ?? `Request failed (HTTP ${status}).`;
}

// Turns a response (fetch or XHR parts) into an ApiError.
export function errorFrom(status, bodyText, retryAfterHeader) {
  let detail = null;
  try {
    const body = JSON.parse(bodyText);
    if (typeof body?.detail === 'string') detail = body.detail;
    // FastAPI-style validation errors: [{msg, loc}].
    else if (Array.isArray(body?.detail)) detail = body.detail.map((d) => d.msg ?? String(d)).join('; ');
  } catch { /* not JSON */ }
  const retry = retryAfterHeader ? Number(retryAfterHeader) : null;
  return new ApiError(status, detail || fallbackMessage(status), { retryAfter: Number.isFinite(retry) ? retry : null });
}

// fetch + JSON. Resolves the parsed body (or null); rejects with ApiError. `raw: true` resolves
// the Response itself (images).
export async function api(method, path, body, { raw = false, signal } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' }, signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'Cannot reach the server; check your connection.');
  }
  if (!res.ok) throw errorFrom(res.status, await res.text(), res.headers.get('Retry-After'));
  if (raw) return res;
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return text; }
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body, opts);

// The message to show for any error a page catches.
export function messageOf(err) {
  if (err instanceof ApiError) return err.detail;
  return err?.message || String(err);
}

// A lost session goes back to sign-in, once: several modules poll independently, and a second
// navigation would abort the first (the page then flickers or stays put).
let leavingForSignIn = false;
export function goToSignIn({ replace = false } = {}) {
  if (leavingForSignIn) return;
  leavingForSignIn = true;
  if (replace) window.location.replace('/'); else window.location.assign('/');
}
