// The daemon's HTTP API (see shared/design.md, "HTTP surface"): every fetch
// goes through request(), which turns the daemon's JSON errors
// ({"error": "..."} with a status) and network failures into ApiError.
//
// When the server wants a login, a 401 from any call but the login itself
// reaches the handler set with onUnauthorized(), where the page shows its
// login form. The login is a cookie (HttpOnly, so this code never sees it)
// that fetch and the NBD WebSockets carry by themselves (same origin), with
// the Origin header the server asks of them.

import { parseRetryAfter } from './account.js';

export class ApiError extends Error {
  /**
   * @param status      HTTP status, or 0 when the server could not be reached
   * @param retryAfter  seconds from a Retry-After header (429), or null
   */
  constructor(message, status = 0, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

let unauthorized = null;

/** Sets the function called (with the ApiError) whenever a call gets 401. */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/**
 * A JSON request; resolves to the parsed body, rejects with ApiError.
 * options.login: a 401 is the answer itself (wrong password), not a sign
 * that the login ended, so onUnauthorized's handler is not called.
 */
export async function request(method, path, body, { login = false, keepalive = false } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
  if (keepalive) init.keepalive = true; // outlives the page (pagehide)
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
    const error = new ApiError(message, response.status, parseRetryAfter(response.headers?.get?.('Retry-After') ?? null));
    if (response.status === 401 && !login) unauthorized?.(error);
    throw error;
  }
  return data;
}

/**
 * Who we are: {auth: 'users'|'none', user: name or null, admin}. With
 * auth 'users' and user null, the page shows its login form.
 */
export async function session() {
  const data = await request('GET', '/api/session');
  if (data?.auth !== 'users' && data?.auth !== 'none') throw new ApiError('unexpected answer from the server about the login', 200);
  return { auth: data.auth, user: typeof data.user === 'string' ? data.user : null, admin: !!data.admin };
}

/**
 * The exports: [{name, description, kind: 'device'|'socket', read_only,
 * default, state: 'idle'|'connecting'|'active'|'closing', user, size,
 * bytes_read, bytes_written, since, source: null or {uri, state:
 * 'waiting'|'connecting'|'attached'}, read_ahead: {window, held, hits,
 * bytes, dropped}}, ...]
 */
export async function listExports() {
  const data = await request('GET', '/api/exports');
  if (!Array.isArray(data)) throw new ApiError('the export list is not a list', 200);
  return data;
}

/**
 * Ends the session on an export (its owner, or an admin). options.keepalive:
 * the request outlives the page (sent from pagehide).
 */
export function eject(name, { keepalive = false } = {}) {
  return request('POST', `/api/exports/${encodeURIComponent(name)}/eject`, undefined, { keepalive });
}

/**
 * The attached session's resume secret, given once per attach (the
 * reconnect window, ARCHITECTURE.md): {secret, reconnect}. Rejects with
 * ApiError 409 while not attached yet, or once given.
 */
export async function resumeSecret(name) {
  const data = await request('POST', `/api/exports/${encodeURIComponent(name)}/resume-secret`);
  if (typeof data?.secret !== 'string' || !/^[0-9a-f]{64}$/.test(data.secret)) {
    throw new ApiError('no resume secret in the answer', 200);
  }
  return { secret: data.secret, reconnect: Number(data.reconnect) || 0 };
}

/**
 * Arms a resume of the export's waiting session for this login: its next
 * WebSocket takes the session back. Rejects with ApiError 403 (wrong
 * secret), 404, 409 (nothing waiting: the window ended), 429.
 */
export function resume(name, secret) {
  return request('POST', `/api/exports/${encodeURIComponent(name)}/resume`, { secret });
}

/**
 * Logs in: resolves to {user, admin}; the server sets the cookie. Rejects
 * with ApiError 401 (wrong user or password), 429 with retryAfter (backed
 * off after failures), 0 (unreachable).
 */
export async function login(username, password) {
  const data = await request('POST', '/api/login', { username, password }, { login: true });
  return { user: typeof data?.user === 'string' ? data.user : username, admin: !!data?.admin };
}

/** Ends the login (the server clears the cookie). */
export function logout() {
  return request('POST', '/api/logout');
}

/** ws:// or wss:// URL of an export's NBD WebSocket, on this page's host. */
export function nbdUrl(name, where = globalThis.location) {
  const scheme = where.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${where.host}/nbd/${encodeURIComponent(name)}`;
}
