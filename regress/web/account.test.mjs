// account.js: logins, back-off and refusals in words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attachedWhere, ejectErrorText, formatWait, loggedOutText, loginEndedText, loginErrorText, parseRetryAfter, sentence, tooManyText,
} from '../../web/account.js';

test('parseRetryAfter reads delay-seconds and HTTP dates', () => {
  const now = Date.parse('2026-01-02T03:04:05Z');
  assert.equal(parseRetryAfter('4', now), 4);
  assert.equal(parseRetryAfter(' 300 ', now), 300);
  assert.equal(parseRetryAfter('0', now), 0);
  assert.equal(parseRetryAfter('Fri, 02 Jan 2026 03:04:35 GMT', now), 30);
  assert.equal(parseRetryAfter('Fri, 02 Jan 2026 03:04:05 GMT', now - 1500), 2); // rounded up
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:00 GMT', now), 0); // past
  for (const bad of [null, undefined, '', '-1', '1.5', 'soon', '4 seconds']) {
    assert.equal(parseRetryAfter(bad, now), null, `"${bad}"`);
  }
});

test('formatWait rounds up to seconds, minutes, hours', () => {
  assert.equal(formatWait(1), '1 second');
  assert.equal(formatWait(0.2), '1 second');
  assert.equal(formatWait(0), '1 second');
  assert.equal(formatWait(2), '2 seconds');
  assert.equal(formatWait(59), '59 seconds');
  assert.equal(formatWait(60), '1 minute');
  assert.equal(formatWait(61), '2 minutes');
  assert.equal(formatWait(300), '5 minutes');
  assert.equal(formatWait(3600), '1 hour');
  assert.equal(formatWait(7201), '3 hours');
  assert.equal(formatWait(NaN), '1 second');
});

test('sentence capitalises and ends with a full stop', () => {
  assert.equal(sentence('cannot reach the server'), 'Cannot reach the server.');
  assert.equal(sentence('Done.'), 'Done.');
  assert.equal(sentence('  why?  '), 'Why?');
  assert.equal(sentence(''), '');
  assert.equal(sentence(undefined), '');
});

test('login errors in words: wrong password, back-off, unreachable, others', () => {
  const err = (status, message = '', retryAfter = null) => ({ status, message, retryAfter });
  assert.equal(loginErrorText(err(401, 'wrong user or password')), 'Wrong user name or password.');
  assert.equal(loginErrorText(err(429, 'too many failed logins; try again later', 4)), 'Too many failed logins. Try again in 4 seconds.');
  assert.equal(loginErrorText(err(429, '', 1)), 'Too many failed logins. Try again in 1 second.');
  assert.equal(loginErrorText(err(429, '', 120)), 'Too many failed logins. Try again in 2 minutes.');
  assert.equal(loginErrorText(err(429)), 'Too many failed logins. Wait a little, then try again.');
  assert.match(loginErrorText(err(0, 'cannot reach the server (Failed to fetch)')), /^Cannot reach the server\. Check the network connection/);
  assert.equal(loginErrorText(err(503, 'busy checking passwords; try again')), 'Busy checking passwords; try again.');
  assert.equal(loginErrorText(err(400, 'this server does not use logins')), 'The server refused the login: This server does not use logins.');
  assert.equal(loginErrorText(err(403, 'origin not allowed')), 'The server refused the login: Origin not allowed.');
  assert.equal(loginErrorText(err(500)), 'The server refused the login: Error 500.');
  assert.match(loginErrorText(undefined), /^Cannot reach the server/);
});

test('tooManyText after the wait says to try again', () => {
  assert.equal(tooManyText(0), 'Too many failed logins before: you can try again now.');
  assert.equal(tooManyText(-3), 'Too many failed logins before: you can try again now.');
  assert.equal(tooManyText(null), 'Too many failed logins. Wait a little, then try again.');
});

test('eject errors in words: 403, 404, 409, 401, unreachable', () => {
  assert.equal(ejectErrorText({ status: 403, message: 'only its owner or an admin may eject' }),
    'Only the person who attached this image, or an administrator, may eject it.');
  assert.match(ejectErrorText({ status: 404, message: 'no such export' }), /^You may not use this export/);
  assert.equal(ejectErrorText({ status: 409, message: 'nothing attached to this export' }), 'Nothing is attached to this export any more.');
  assert.match(ejectErrorText({ status: 401 }), /log in again/);
  assert.match(ejectErrorText({ status: 0 }), /^Cannot reach the server to eject/);
  assert.equal(ejectErrorText({ status: 503, message: 'busy' }), 'Eject failed: Busy.');
});

test('what the form says when a login ends or after logging out', () => {
  assert.match(loginEndedText(false), /^Your login has ended: .* Log in again to continue\.$/);
  assert.doesNotMatch(loginEndedText(false), /still being served/);
  assert.match(loginEndedText(true), /The image attached from this page is still being served\.$/);
  assert.equal(loggedOutText(0), 'You are logged out.');
  assert.equal(loggedOutText(1), 'You are logged out. The image attached from this page was ejected.');
  assert.equal(loggedOutText(2), 'You are logged out. The images attached from this page were ejected.');
});

test('attachedWhere names a source\'s URL and its inserter, else the user', () => {
  const inserted = { state: 'active', user: 'alice', source: { uri: 'https://img.example/installer.iso', state: 'attached', inserted_by: 'alice' } };
  assert.equal(attachedWhere(inserted, 'bob'), 'from https://img.example/installer.iso by alice');
  assert.equal(attachedWhere(inserted, 'alice'), 'from https://img.example/installer.iso by you');
  const configured = { state: 'active', user: null, source: { uri: 'nbd://10.0.0.1/disk', state: 'attached' } };
  assert.equal(attachedWhere(configured, 'bob'), 'from nbd://10.0.0.1/disk');
  assert.equal(attachedWhere({ state: 'active', user: 'carol', source: null }, 'bob'), 'from elsewhere by carol');
  assert.equal(attachedWhere({ state: 'active', user: 'bob', source: null }, 'bob'), 'by you, from another page or program');
  assert.equal(attachedWhere({ state: 'active', user: null, source: null }, null), 'from elsewhere');
});
