// api.js against a fake fetch: the login body, errors with their status
// and Retry-After, and which 401s mean "the login ended".
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as api from '../../web/api.js';

let calls;
let answer;
beforeEach(() => {
  calls = [];
  answer = () => new Response('{}', { status: 200 });
  globalThis.fetch = async (path, init) => {
    calls.push({ path, ...init, body: init.body === undefined ? undefined : JSON.parse(init.body) });
    return answer(path, init);
  };
  api.onUnauthorized(null);
});

const json = (status, body, headers = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

test('login posts {username, password} and returns who logged in', async () => {
  answer = json(200, { user: 'alice', admin: false });
  const who = await api.login('alice', 's3cret');
  assert.deepEqual(who, { user: 'alice', admin: false });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].path, '/api/login');
  assert.equal(calls[0].method, 'POST');
  assert.deepEqual(calls[0].body, { username: 'alice', password: 's3cret' });
  assert.equal(calls[0].headers['Content-Type'], 'application/json');
  assert.equal(calls[0].credentials, 'same-origin');
});

test('a wrong password is an ApiError 401 and does not count as the login ending', async () => {
  let ended = 0;
  api.onUnauthorized(() => ended++);
  answer = json(401, { error: 'wrong user or password' });
  await assert.rejects(api.login('alice', 'nope'), (e) => e instanceof api.ApiError && e.status === 401 && e.message === 'wrong user or password');
  assert.equal(ended, 0);
});

test('a back-off carries Retry-After in seconds', async () => {
  answer = json(429, { error: 'too many failed logins; try again later' }, { 'Retry-After': '8' });
  await assert.rejects(api.login('alice', 'nope'), (e) => e.status === 429 && e.retryAfter === 8);
  answer = json(429, { error: 'too many sessions for this user' });
  await assert.rejects(api.listExports(), (e) => e.status === 429 && e.retryAfter === null);
});

test('a 401 from any other call tells the page the login ended', async () => {
  const seen = [];
  api.onUnauthorized((e) => seen.push(e.status));
  answer = json(401, { error: 'authentication required' });
  await assert.rejects(api.listExports(), (e) => e.status === 401);
  await assert.rejects(api.eject('lab'), (e) => e.status === 401);
  assert.deepEqual(seen, [401, 401]);
  assert.equal(calls[1].path, '/api/exports/lab/eject');
  assert.equal(calls[1].method, 'POST');
});

test('session reads auth, user and admin', async () => {
  answer = json(200, { auth: 'users', user: null, admin: false });
  assert.deepEqual(await api.session(), { auth: 'users', user: null, admin: false });
  answer = json(200, { auth: 'users', user: 'ops', admin: true });
  assert.deepEqual(await api.session(), { auth: 'users', user: 'ops', admin: true });
  answer = json(200, { auth: 'none', user: null, admin: true });
  assert.deepEqual(await api.session(), { auth: 'none', user: null, admin: true });
  answer = json(200, { something: 'else' });
  await assert.rejects(api.session(), (e) => e instanceof api.ApiError);
  assert.equal(calls[0].path, '/api/session');
});

test('an unreachable server is status 0; eject and logout errors keep the status', async () => {
  globalThis.fetch = async () => {
    throw new TypeError('Failed to fetch');
  };
  await assert.rejects(api.login('a', 'b'), (e) => e.status === 0 && /cannot reach the server/.test(e.message));
  globalThis.fetch = async () => json(403, { error: 'only its owner or an admin may eject' })();
  await assert.rejects(api.eject('shared'), (e) => e.status === 403 && e.message === 'only its owner or an admin may eject');
  globalThis.fetch = async () => json(409, { error: 'nothing attached to this export' })();
  await assert.rejects(api.eject('shared'), (e) => e.status === 409);
  globalThis.fetch = async () => json(200, { logged_out: true })();
  assert.deepEqual(await api.logout(), { logged_out: true });
});

test('an error without a JSON body says the status', async () => {
  answer = () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' });
  await assert.rejects(api.listExports(), (e) => e.status === 502 && e.message === '502 Bad Gateway');
});
