// Logins and refusals in words for people. Pure functions, no DOM
// (unit-tested under node); app.js shows what they return.

/**
 * Seconds to wait from a Retry-After header: delay-seconds ("4") or an
 * HTTP-date. null when absent or unreadable.
 */
export function parseRetryAfter(value, now = Date.now()) {
  if (value === null || value === undefined) return null;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (!/[a-z]/i.test(text)) return null; // "-1", "1.5": not a date either
  const when = Date.parse(text);
  if (Number.isNaN(when)) return null;
  return Math.max(0, Math.ceil((when - now) / 1000));
}

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A wait, rounded up: "1 second", "42 seconds", "2 minutes", "1 hour". */
export function formatWait(seconds) {
  const s = Math.max(1, Math.ceil(Number.isFinite(seconds) ? seconds : 1));
  if (s < 60) return plural(s, 'second');
  const m = Math.ceil(s / 60);
  if (m < 60) return plural(m, 'minute');
  return plural(Math.ceil(m / 60), 'hour');
}

/** "cannot reach x" -> "Cannot reach x." */
export function sentence(text) {
  const t = String(text ?? '').trim();
  if (!t) return '';
  const s = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(s) ? s : `${s}.`;
}

export const UNREACHABLE = 'Cannot reach the server. Check the network connection, then try again.';

/** After a back-off (429): how long, or that the wait is over. */
export function tooManyText(secondsLeft) {
  if (secondsLeft === null || secondsLeft === undefined || !Number.isFinite(secondsLeft)) {
    return 'Too many failed logins. Wait a little, then try again.';
  }
  if (secondsLeft <= 0) return 'Too many failed logins before: you can try again now.';
  return `Too many failed logins. Try again in ${formatWait(secondsLeft)}.`;
}

/**
 * Why a login did not work, from the ApiError of POST /api/login
 * ({status, message, retryAfter}).
 */
export function loginErrorText(error) {
  const status = error?.status ?? 0;
  switch (status) {
    case 0:
      return UNREACHABLE;
    case 401:
      return 'Wrong user name or password.';
    case 429:
      return tooManyText(error.retryAfter);
    case 503:
      return sentence(error?.message || 'the server is busy; try again');
    default:
      return `The server refused the login: ${sentence(error?.message || `error ${status}`)}`;
  }
}

/** Why an eject (POST /api/exports/NAME/eject) did not work. */
export function ejectErrorText(error) {
  const status = error?.status ?? 0;
  switch (status) {
    case 0:
      return 'Cannot reach the server to eject. Check the network connection, then try again.';
    case 401:
      return 'Your login has ended: log in again to eject.';
    case 403:
      return 'Only the person who attached this image, or an administrator, may eject it.';
    case 404:
      return 'You may not use this export (or it no longer exists), so you cannot eject it.';
    case 409:
      return 'Nothing is attached to this export any more.';
    default:
      return `Eject failed: ${sentence(error?.message || `error ${status}`)}`;
  }
}

/**
 * Where an image attached elsewhere comes from, for its card: a source's
 * URL (inserted through the API or Redfish's InsertMedia, or configured)
 * and who inserted it; else who attached it, if the server says.
 */
export function attachedWhere(info, me) {
  const uri = info?.source?.uri;
  const by = uri ? info.source.inserted_by : info?.user;
  const mine = !!by && by === me;
  if (uri) return `from ${uri}${mine ? ' by you' : by ? ` by ${by}` : ''}`;
  return mine ? 'by you, from another page or program' : `from elsewhere${by ? ` by ${by}` : ''}`;
}

/** What the login form says when a login in use ends (a 401 later on). */
export function loginEndedText(stillServing) {
  const text = 'Your login has ended: it expired, or you logged out in another page. Log in again to continue.';
  return stillServing ? `${text} The image attached from this page is still being served.` : text;
}

/** What the login form says after Log out. */
export function loggedOutText(ejected) {
  if (ejected === 0) return 'You are logged out.';
  return `You are logged out. ${ejected === 1 ? 'The image' : 'The images'} attached from this page ${ejected === 1 ? 'was' : 'were'} ejected.`;
}
