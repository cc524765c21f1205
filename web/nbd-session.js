// Glue between a WebSocket and an NbdServer: what the page uses.
//
//   const session = new NbdSession(new WebSocket(url), new FileImage(file));
//   session.addEventListener('statechange', (e) => show(e.detail.state));
//   session.addEventListener('progress', (e) => show(e.detail.bytesRead));
//   session.addEventListener('socketclose', (e) => why(e.detail.code, e.detail.reason));
//   session.close(); // detach
//
// The socket may still be connecting (the greeting goes out on 'open') or
// already open. Binary frames are a byte stream; a text frame is a protocol
// error. When the NBD session ends, the socket is closed, and vice versa.
//
// 'socketclose' fires once, when the socket has closed (whichever side
// began), with {code, reason, wasClean, opened}: the server's close code
// and reason (vmediad says why it ended a session there), and whether the
// socket ever opened (a refused upgrade, say 409 busy, never opens, and
// browsers show it only as code 1006).

import { NbdServer } from './nbd-server.js';

const WS_OPEN = 1;
const WS_CLOSING = 2;

// Codes a page may pass to WebSocket.close(): 1000 or 3000-4999.
const CLOSE_NORMAL = 1000;
const CLOSE_PROTOCOL_ERROR = 4000;

export class NbdSession extends EventTarget {
  #socket;
  #listeners = [];
  #closeSeen = false;

  /** True once the socket opened. */
  opened = false;

  /** {code, reason, wasClean, opened} once the socket closed, else null. */
  closeInfo = null;

  /**
   * @param socket  a WebSocket (or anything with its interface)
   * @param image   see image.js
   * @param options passed to NbdServer (readOnly, maxRequest, multiConn)
   */
  constructor(socket, image, options = {}) {
    super();
    this.#socket = socket;
    socket.binaryType = 'arraybuffer';
    // WebSocket.send copies what it is given before it returns.
    this.server = new NbdServer(image, { sendCopies: true, ...options, send: (bytes) => socket.send(bytes) });
    for (const type of ['statechange', 'progress', 'ioerror']) {
      this.server.addEventListener(type, (e) => this.dispatchEvent(new CustomEvent(type, { detail: e.detail })));
    }
    this.server.addEventListener('statechange', (e) => this.#onServerState(e.detail));

    this.#listen('open', () => {
      this.opened = true;
      this.server.start();
    });
    this.#listen('message', (e) => {
      if (typeof e.data === 'string') this.server.fail('text frame on the NBD socket');
      else this.server.receive(new Uint8Array(e.data));
    });
    this.#listen('error', () => this.server.fail('connection error'));
    // Stays until the socket closed, after the NBD session ended too.
    socket.addEventListener('close', (e) => this.#onClose(e));
    if (socket.readyState === WS_OPEN) {
      this.opened = true;
      this.server.start();
    }
  }

  get state() {
    return this.server.state;
  }

  get reason() {
    return this.server.reason;
  }

  get stats() {
    return this.server.stats;
  }

  /** Resolves once the session ended and the image was flushed. */
  get finished() {
    return this.server.finished;
  }

  /** Detaches the image: closes the socket and ends the NBD session. */
  close(reason = 'closed by user') {
    return this.server.close(reason);
  }

  #listen(type, fn) {
    this.#socket.addEventListener(type, fn);
    this.#listeners.push([type, fn]);
  }

  #onClose(e) {
    if (this.#closeSeen) return;
    this.#closeSeen = true;
    const code = e.code ?? 1005;
    const reason = e.reason ?? '';
    this.closeInfo = { code, reason, wasClean: e.wasClean ?? false, opened: this.opened };
    this.server.close(`connection closed (${e.code ?? 'no code'}${reason ? ': ' + reason : ''})`);
    this.dispatchEvent(new CustomEvent('socketclose', { detail: { ...this.closeInfo } }));
  }

  #onServerState({ state, reason }) {
    if (state !== 'closed' && state !== 'error') return;
    for (const [type, fn] of this.#listeners) this.#socket.removeEventListener(type, fn);
    this.#listeners = [];
    if (this.#socket.readyState < WS_CLOSING) {
      // A close reason may be at most 123 bytes of UTF-8.
      const text = reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
      this.#socket.close(state === 'error' ? CLOSE_PROTOCOL_ERROR : CLOSE_NORMAL, text);
    }
  }
}
