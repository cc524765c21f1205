// The daemon's HTTP API (see shared/design.md, "HTTP surface"): every fetch
// goes through request(), which turns the daemon's JSON errors
// ({"error": "..."} with a status) and network failures into ApiError.
//
// Login is not there yet: when it is, a 401 from any call reaches the
// handler set with onUnauthorized(), where the page shows its login form,
// and login()/logout() below are the calls it makes. WebSockets carry the
// session cookie by themselves (same origin).

export class ApiError extends Error {
  /**
   * @param status  HTTP status, or 0 when the server could not be reached
   */
  constructor(message, status = 0) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

let unauthorized = null;

/** Sets the function called (with the ApiError) whenever a call gets 401. */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** A JSON request; resolves to the parsed body, rejects with ApiError. */
export async function request(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(`cannot reach the server (${e?.message ?? e})`, 0);
  }
  let data = null;
  const text = await response.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (response.ok) throw new ApiError(`unexpected answer from the server: ${text.slice(0, 80)}`, response.status);
    }
  }
  if (!response.ok) {
    const message = typeof data?.error === 'string' ? data.error : `${response.status} ${response.statusText}`.trim();
    const error = new ApiError(message, response.status);
    if (response.status === 401) unauthorized?.(error);
    throw error;
  }
  return data;
}

/**
 * The exports: [{name, description, kind: 'device'|'socket', read_only,
 * default, state: 'idle'|'connecting'|'active'|'closing', user, size,
 * bytes_read, bytes_written, since}, ...]
 */
export async function listExports() {
  const data = await request('GET', '/api/exports');
  if (!Array.isArray(data)) throw new ApiError('the export list is not a list', 200);
  return data;
}

/** Ends the session on an export (its owner, or an admin). */
export function eject(name) {
  return request('POST', `/api/exports/${encodeURIComponent(name)}/eject`);
}

/** For the login form to come: POST /api/login and /api/logout. */
export function login(user, password) {
  return request('POST', '/api/login', { user, password });
}

export function logout() {
  return request('POST', '/api/logout');
}

/** ws:// or wss:// URL of an export's NBD WebSocket, on this page's host. */
export function nbdUrl(name, where = globalThis.location) {
  const scheme = where.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${where.host}/nbd/${encodeURIComponent(name)}`;
}
