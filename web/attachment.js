// One export as the page sees it: the image picked for it, how writes are
// handled, and the session that serves it. No DOM here (app.js draws it),
// so the state machine is unit-tested under node with a fake WebSocket.
//
// States (attachment.state):
//   idle        nothing of ours on the export (a file may be chosen)
//   connecting  WebSocket opening, NBD handshake
//   attached    serving the image
//   reconnecting the connection dropped while attached and the server
//               keeps the session waiting (its reconnect window): the
//               page asks to resume with the session's secret and serves
//               the same image on a new WebSocket, backing off between
//               tries, until the window ends; Eject ends it at once
//   ejecting    eject asked for, waiting for the session to end
//   ejected     ended by an eject (ours or the server's); overlay discarded
//   ended       the server ended the session normally (e.g. the kernel
//               disconnected); message has its reason
//   lost        the connection dropped while attached: reattach() serves
//               the same image again, writes kept in memory included
//   error       refused or failed; message has the server's reason
// Every change fires 'change'.
//
// Write modes (attachment.mode), for writable exports:
//   'overlay'    writes are kept in memory (OverlayImage) and discarded at
//                eject; the file is never modified (the default)
//   'read-only'  the machine cannot write
//   'file'       writes go to the file itself through the File System
//                Access API (FileHandleImage); explicit opt-in, needs a
//                FileSystemFileHandle with readwrite permission
// A read-only export is always 'read-only'.

import { FileImage, OverlayImage, FileHandleImage, ReadAheadImage, alignImage } from './image.js';
import { NbdSession } from './nbd-session.js';

export const OVERLAY = 'overlay';
export const READ_ONLY = 'read-only';
export const WRITE_FILE = 'file';

// Close codes that mean the connection went away rather than the server
// refusing us: going away (server stopping), no status, abnormal (network),
// service restart, try again later, bad gateway.
const LOST_CODES = new Set([1001, 1005, 1006, 1012, 1013, 1014]);

const BUSY = new Set(['connecting', 'attached', 'ejecting', 'reconnecting']);

// A refused resume (the server's WebSocket close codes): the image or the
// handshake did not match, so trying again cannot help.
const RESUME_REFUSED = new Set([4001, 4002, 4003]);
const WINDOW_ENDED = 4004;
const ABNORMAL = 1006; // no close frame: the network, not the server

/**
 * What a closed socket means for the page: {state, message}.
 *   close    {code, reason, opened} from NbdSession's 'socketclose'
 *   context  {ejectRequested, wasAttached, localError}
 */
export function classifyClose({ code, reason = '', opened }, { ejectRequested = false, wasAttached = false, localError = '' } = {}) {
  if (ejectRequested) return { state: 'ejected', message: wasAttached ? 'Ejected.' : 'Cancelled.' };
  if (localError) return { state: 'error', message: `Session failed: ${localError}.` };
  if (!opened) return { state: 'error', message: `The server refused the connection (code ${code}).` };
  if (code === 1000 && reason === 'ejected') {
    return { state: 'ejected', message: 'Ejected by the server (from another page or by an administrator).' };
  }
  if (wasAttached && (LOST_CODES.has(code) || (code === 1000 && !reason))) {
    return { state: 'lost', message: `Connection to the server lost${reason ? ': ' + reason : ''} (code ${code}).` };
  }
  if (code === 1000 && wasAttached) return { state: 'ended', message: `The server ended the session: ${reason}.` };
  const why = reason || (wasAttached ? 'connection closed' : 'connection closed during the handshake');
  return { state: 'error', message: `${capitalise(why)} (code ${code}).` };
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export class Attachment extends EventTarget {
  state = 'idle';
  message = '';
  /** {file, handle, name, size}: the chosen image, or null. */
  source = null;
  mode = OVERLAY;
  /** Last image error while attached ({command, errno, error}), or null. */
  ioError = null;
  /** Size served (rounded up to 512), once attached. */
  size = 0;
  /** Date.now() when the current session was attached. */
  since = 0;

  #info;
  #connect;
  #api;
  #user;
  #overlayLimit;
  #ejectTimeout;
  #session = null;
  #image = null; // kept across a reattach after 'lost'
  #overlay = null; // the OverlayImage inside #image, when mode is OVERLAY
  #fileImage = null; // the FileHandleImage inside #image, mode WRITE_FILE
  #ejectRequested = false;
  #wasAttached = false;
  #ejectTimer = null;
  #samples = []; // [time ms, bytes moved] for the throughput
  rate = 0; // bytes per second, over the last ~2 s
  #secret = null; // the session's resume secret, once given
  #reconnectMs = 0; // the export's window
  #reconnectUntil = 0;
  #reconnectTimer = null;
  #tries = 0;
  #resumeDelays;
  #secretAsked = false;

  /**
   * @param info     the export from GET /api/exports
   * @param options  connect(url) -> WebSocket, url(name) -> ws URL,
   *                 api {eject(name), listExports()}, user() -> the name
   *                 logged in or null, overlayLimit (bytes), ejectTimeout
   *                 (ms before closing the socket ourselves)
   */
  constructor(info, { connect, url, api, user = () => null, overlayLimit = 1024 ** 3, ejectTimeout = 5000,
    resumeDelays = [1000, 2000, 4000, 5000] } = {}) {
    super();
    this.#resumeDelays = resumeDelays;
    this.#info = info;
    this.#connect = connect;
    this.url = url;
    this.#api = api;
    this.#user = user;
    this.#overlayLimit = overlayLimit;
    this.#ejectTimeout = ejectTimeout;
    if (info.read_only) this.mode = READ_ONLY;
  }

  get name() {
    return this.#info.name;
  }

  /** The export as last listed by the server. */
  get info() {
    return this.#info;
  }

  /** The server gave this session a secret to resume it after a drop. */
  get canResume() {
    return this.#secret !== null;
  }

  /** A session of ours is opening, serving or ending. */
  get busy() {
    return BUSY.has(this.state);
  }

  /** The server shows a session on the export that is not ours. */
  get inUseElsewhere() {
    return !this.busy && this.#info.state !== 'idle';
  }

  /** Attach (or reattach) would work now. */
  get canAttach() {
    if (!this.source || this.busy || this.inUseElsewhere) return false;
    return this.mode !== WRITE_FILE || !!this.source.handle;
  }

  /** The next attach serves the image kept from the lost session. */
  get canReattach() {
    return this.state === 'lost' && this.#image !== null && this.canAttach;
  }

  /** Counters of the current (or last) session, plus rate and memory use. */
  get stats() {
    const s = this.#session?.stats ?? { bytesRead: 0, bytesWritten: 0, inFlight: 0, requests: 0, errors: 0 };
    return {
      ...s,
      rate: this.rate,
      overlayBytes: this.#overlay?.overlayBytes ?? 0,
      pendingBytes: this.#fileImage?.pendingBytes ?? 0,
    };
  }

  /** The export as listed by the server (from polling). */
  update(info) {
    const wasReadOnly = this.#info.read_only;
    this.#info = info;
    if (this.state === 'attached' && !this.#secretAsked && info.state === 'active' &&
        (info.reconnect ?? 0) > 0 && this.#api.resumeSecret) this.#fetchSecret();
    if (info.read_only && this.mode !== READ_ONLY && !this.busy) this.#setMode(READ_ONLY);
    else if (!info.read_only && wasReadOnly && !this.busy) this.#setMode(OVERLAY);
    this.#changed();
  }

  /**
   * Chooses the image: a File (or Blob with a name), and optionally the
   * FileSystemFileHandle it came from (needed for the 'file' mode).
   */
  choose(file, handle = null) {
    if (this.busy) throw new Error('cannot change the image while attached');
    this.source = { file, handle, name: file.name ?? handle?.name ?? 'image', size: file.size };
    this.#dropImage();
    if (this.state !== 'idle') this.#setState('idle', '');
    this.#changed();
  }

  setMode(mode) {
    if (this.busy) throw new Error('cannot change the write mode while attached');
    if (![OVERLAY, READ_ONLY, WRITE_FILE].includes(mode)) throw new RangeError(`unknown mode ${mode}`);
    if (this.#info.read_only && mode !== READ_ONLY) throw new Error('the export is read-only');
    this.#setMode(mode);
    this.#changed();
  }

  #setMode(mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.#dropImage();
    if (this.state === 'lost') this.#setState('idle', '');
  }

  /**
   * Attaches the chosen image (after 'lost': the same image, with the
   * writes kept in memory). Resolves once the socket is opening.
   */
  async attach() {
    if (!this.canAttach) throw new Error('nothing to attach, or the export is busy');
    this.#ejectRequested = false;
    this.#wasAttached = false;
    this.#secret = null;
    this.#secretAsked = false;
    this.ioError = null;
    this.#samples = [];
    this.rate = 0;
    this.#setState('connecting', 'Connecting…');
    try {
      if (this.#image === null) await this.#openImage();
    } catch (e) {
      this.#dropImage();
      this.#setState('error', `Cannot open the image: ${e?.message ?? e}.`);
      return;
    }
    this.#open();
  }

  /** A WebSocket and an NBD session serving #image on it. */
  #open() {
    let socket;
    try {
      socket = this.#connect(this.url(this.name));
    } catch (e) {
      this.#setState('error', `Cannot connect: ${e?.message ?? e}.`);
      return;
    }
    const session = new NbdSession(socket, this.#image, { readOnly: this.mode === READ_ONLY });
    this.#session = session;
    session.addEventListener('statechange', (e) => this.#onSessionState(session, e.detail));
    session.addEventListener('ioerror', (e) => {
      this.ioError = e.detail;
      this.#changed();
    });
    session.addEventListener('socketclose', (e) => this.#onSocketClose(session, e.detail));
  }

  /** Ends our session: through the server's eject, else by closing. */
  async eject() {
    const session = this.#session;
    if (!session || !this.busy || this.#ejectRequested) return;
    this.#ejectRequested = true;
    if (this.state === 'reconnecting') {
      // The server's session waits for us: end it there, and here.
      clearTimeout(this.#reconnectTimer);
      this.#secret = null;
      if (session.state !== 'closed') session.close('ejected');
      try {
        await this.#api.eject(this.name);
      } catch {
        // 409: the window had ended anyway.
      }
      this.#dropImage();
      this.#info = { ...this.#info, state: 'idle' };
      this.#setState('ejected', 'Ejected.');
      return;
    }
    if (this.state === 'connecting') {
      session.close('cancelled');
      return;
    }
    this.#setState('ejecting', 'Ejecting…');
    this.#ejectTimer = setTimeout(() => session.close('ejected'), this.#ejectTimeout);
    try {
      await this.#api.eject(this.name);
    } catch {
      // 409 (already over), unreachable server, ...: end it from here.
      session.close('ejected');
    }
  }

  /**
   * The page is going away (pagehide): a session the server holds for us
   * to resume is ended now, not at the end of its window. An open socket
   * needs nothing: the browser closes it, and a close frame ends it.
   */
  abandon() {
    if (this.state !== 'reconnecting') return;
    this.#ejectRequested = true;
    clearTimeout(this.#reconnectTimer);
    this.#secret = null;
    this.#api.eject(this.name, { keepalive: true }).catch(() => {});
  }

  /**
   * Ejects a session that is not ours, through the server. Resolves to
   * null, or to the error (an ApiError: status 403, 404, 409, ...).
   */
  async ejectElsewhere() {
    try {
      await this.#api.eject(this.name);
      return null;
    } catch (e) {
      return e ?? new Error('eject failed');
    }
  }

  /**
   * Takes a sample of the counters at `now` (ms) and updates the rate:
   * bytes moved per second over the last two seconds.
   */
  sample(now) {
    if (this.state !== 'attached' && this.state !== 'ejecting') return;
    const s = this.#session.stats;
    this.#samples.push([now, s.bytesRead + s.bytesWritten]);
    while (this.#samples.length > 2 && now - this.#samples[1][0] >= 2000) this.#samples.shift();
    const [t0, b0] = this.#samples[0];
    this.rate = now > t0 ? ((s.bytesRead + s.bytesWritten - b0) * 1000) / (now - t0) : 0;
  }

  async #openImage() {
    const { file, handle } = this.source;
    this.#overlay = null;
    this.#fileImage = null;
    if (this.mode === WRITE_FILE) {
      this.#fileImage = await FileHandleImage.open(handle);
      this.#image = alignImage(this.#fileImage);
    } else if (this.mode === OVERLAY) {
      this.#overlay = new OverlayImage(new ReadAheadImage(new FileImage(file)), { maxBytes: this.#overlayLimit });
      this.#image = alignImage(this.#overlay);
    } else {
      this.#image = alignImage(new ReadAheadImage(new FileImage(file)));
    }
  }

  #dropImage() {
    this.#image = null;
    this.#overlay = null;
    this.#fileImage = null;
  }

  #onSessionState(session, { state, size }) {
    if (session !== this.#session) return;
    if (state === 'handshake') {
      if (this.state !== 'reconnecting') this.#setState('connecting', 'Handshake with the server…');
    } else if (state === 'transmission') {
      const resumed = this.state === 'reconnecting';
      this.#wasAttached = true;
      this.size = size;
      if (!resumed) this.since = Date.now();
      this.#tries = 0;
      this.#setState('attached', resumed ? 'Reconnected.' : '');
    }
  }

  // The resume secret, asked for once the listing shows the export
  // attached (the server first reads a few sample blocks of ours, then
  // attaches the device; before that it would answer 409).
  async #fetchSecret() {
    const session = this.#session;
    this.#secretAsked = true;
    try {
      const { secret, reconnect } = await this.#api.resumeSecret(this.name);
      if (session === this.#session) {
        this.#secret = secret;
        this.#reconnectMs = reconnect * 1000;
      }
    } catch (e) {
      if (e?.status === 409 && session === this.#session) this.#secretAsked = false;
    }
  }

  // The connection dropped with the session waiting on the server: try to
  // take it back, backing off, until its window ends.
  #reconnect(message) {
    this.#reconnectUntil = Date.now() + this.#reconnectMs;
    this.#tries = 0;
    this.#setState('reconnecting', `${message} Reconnecting…`);
    this.#scheduleResume();
  }

  #scheduleResume() {
    const delays = this.#resumeDelays;
    const wait = delays[Math.min(this.#tries, delays.length - 1)];
    this.#tries++;
    this.#reconnectTimer = setTimeout(() => this.#tryResume(), wait);
  }

  async #tryResume() {
    if (this.state !== 'reconnecting') return;
    if (Date.now() > this.#reconnectUntil) {
      this.#windowEnded();
      return;
    }
    try {
      await this.#api.resume(this.name, this.#secret);
    } catch (e) {
      if (this.state !== 'reconnecting') return;
      const status = e?.status ?? 0;
      if (status === 409) this.#windowEnded();
      else if (status === 403 || status === 404 || status === 401) {
        this.#secret = null;
        this.#dropImage();
        this.#setState('error', `The server refused to resume the session: ${e?.message ?? status}.`);
      } else this.#scheduleResume(); // unreachable, 429: later
      return;
    }
    if (this.state !== 'reconnecting') return;
    this.#open();
  }

  // Nobody can take the session back now: as a drop without a window.
  #windowEnded() {
    this.#secret = null;
    this.#info = { ...this.#info, state: 'idle' };
    this.#setState('lost', 'The connection could not be restored in time.');
  }

  async #onSocketClose(session, close) {
    if (session !== this.#session) return;
    clearTimeout(this.#ejectTimer);
    if (this.state === 'reconnecting' && !this.#ejectRequested) {
      // A resume's WebSocket: refused for good, or try again.
      await session.finished;
      if (this.state !== 'reconnecting') return;
      if (RESUME_REFUSED.has(close.code)) {
        this.#secret = null;
        this.#dropImage();
        this.#setState('error', `${capitalise(close.reason || 'the server refused to resume the session')} (code ${close.code}).`);
      } else if (close.code === WINDOW_ENDED) this.#windowEnded();
      else this.#scheduleResume();
      return;
    }
    const localError = session.state === 'error' && !session.reason.startsWith('connection') ? session.reason : '';
    const { state, message } = classifyClose(close, {
      ejectRequested: this.#ejectRequested,
      wasAttached: this.#wasAttached,
      localError,
    });
    // Our session is over, whatever the last listing said (the server may
    // be unreachable now): the export is free as far as we know.
    if (close.opened) this.#info = { ...this.#info, state: 'idle' };
    if (state === 'lost' && this.#secret !== null && close.opened && close.code === ABNORMAL) {
      // No close frame: the server keeps the session for its window
      // (a server that closed it, 1001 going away included, did not).
      await session.finished;
      this.#info = { ...this.#info, state: 'reconnecting' };
      this.#reconnect(message);
      return;
    }
    // Outstanding work settles and a writable file is committed first.
    if (this.#fileImage?.pendingBytes) this.#setState('ejecting', 'Saving changes to the file…');
    await session.finished;
    if (state !== 'lost') this.#dropImage();
    let text = message;
    if (this.mode === WRITE_FILE && this.#wasAttached && this.ioError?.command === 'flush') {
      text += ` Saving to the file failed: ${this.ioError.error?.message ?? 'error'}.`;
    }
    this.#setState(state, text);
    if (!close.opened) this.#explainRefusal();
  }

  // Browsers hide why an upgrade was refused (401, 404, 409, 429): ask
  // the API what could have been the reason.
  async #explainRefusal() {
    let list;
    try {
      list = await this.#api.listExports();
    } catch (e) {
      if (this.state !== 'error') return;
      const status = e?.status ?? 0;
      this.#setState('error',
        status === 401 ? 'Your login has ended: log in again, then attach.'
        : status === 0 ? 'Cannot reach the server. Check the network connection, then try again.'
        : `The server refused the connection: ${e?.message ?? e}.`);
      return;
    }
    if (this.state !== 'error') return;
    const info = list.find((x) => x.name === this.name);
    if (!info) {
      this.#setState('error', 'This export is not available to you any more (or it no longer exists).');
      return;
    }
    this.update(info);
    const me = this.#user();
    if (info.state !== 'idle') this.#setState('error', 'The export is busy: an image is already attached to it.');
    else if (me && list.some((x) => x.name !== this.name && x.state !== 'idle' && x.user === me)) {
      this.#setState('error', 'The server refused the connection: you already have as many images attached as it allows one person. Eject one, then attach.');
    }
  }

  #setState(state, message) {
    this.state = state;
    this.message = message;
    this.#changed();
  }

  #changed() {
    this.dispatchEvent(new Event('change'));
  }
}
