/**
 * A promise-based signaling client for tests: a real WebSocket, real frames.
 *
 * Every message the server sends is kept until a test claims it (`next`), so a test can assert on
 * what arrived and also on what did not (`quiet`). Waiting for a message fails fast, with what
 * did arrive, when the time runs out or the socket closes first.
 */
import WebSocket from 'ws';

export type Message = Record<string, unknown>;
export interface CloseEvent {
  code: number;
  reason: string;
}

export interface OpenOptions {
  /** Bind the client end to this local address (e.g. 127.0.0.5): the server sees another client. */
  localAddress?: string;
  headers?: Record<string, string>;
  /** For wss:// to the self-signed certificate. */
  rejectUnauthorized?: boolean;
}

interface Waiter {
  match: (m: Message) => boolean;
  resolve: (m: Message) => void;
  reject: (err: Error) => void;
}

export class TestSocket {
  /** Sockets opened and not yet closed, for `closeAll`. */
  static readonly #live = new Set<TestSocket>();

  readonly ws: WebSocket;
  /** Messages that arrived and no test has claimed yet, oldest first. */
  readonly received: Message[] = [];
  /** Every message that arrived, claimed or not. */
  readonly log: Message[] = [];
  /** The close frame (or 1006 for a connection lost without one). */
  readonly closed: Promise<CloseEvent>;
  #closeEvent: CloseEvent | undefined;
  #waiters: Waiter[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    TestSocket.#live.add(this);
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        TestSocket.#live.delete(this);
        this.#closeEvent = { code, reason: reason.toString() };
        for (const w of this.#waiters.splice(0)) w.reject(new Error(this.#closedText()));
        resolve(this.#closeEvent);
      }),
    );
    ws.on('message', (data, isBinary) => {
      let msg: Message;
      try {
        msg = isBinary ? { type: '(binary)', bytes: (data as Buffer).length } : (JSON.parse((data as Buffer).toString()) as Message);
      } catch {
        msg = { type: '(not json)', text: (data as Buffer).toString() };
      }
      this.log.push(msg);
      const i = this.#waiters.findIndex((w) => w.match(msg));
      if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(msg);
      else this.received.push(msg);
    });
    ws.on('error', () => undefined);
  }

  static open(url: string, options: OpenOptions = {}): Promise<TestSocket> {
    const ws = new WebSocket(url, options);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new TestSocket(ws)));
      ws.once('error', reject);
    });
  }

  /** Open and join; resolves with the socket, the server-assigned id and the whole welcome. */
  static async join(url: string, join: Message, options: OpenOptions = {}): Promise<{ socket: TestSocket; id: string; welcome: Message }> {
    const socket = await TestSocket.open(url, options);
    socket.send({ type: 'join', ...join });
    const welcome = await socket.next(['welcome', 'error']);
    if (welcome.type === 'error') throw new Error(`join refused: ${JSON.stringify(welcome)}`);
    return { socket, id: welcome.id as string, welcome };
  }

  /**
   * Try to open a WebSocket that the server should refuse at the upgrade; resolves with the HTTP
   * status it answered, and fails if the socket opened.
   */
  static refusal(url: string, options: OpenOptions = {}): Promise<{ status: number; body: string }> {
    const ws = new WebSocket(url, options);
    return new Promise((resolve, reject) => {
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        const done = () => {
          resolve({ status: res.statusCode ?? 0, body });
          req.destroy();
        };
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', done);
        res.on('error', done);
      });
      ws.once('open', () => {
        ws.terminate();
        reject(new Error(`the WebSocket to ${url} opened; expected a refusal`));
      });
      ws.once('error', (err) => {
        // ws reports the refusal as an error too once 'unexpected-response' is handled; only a
        // connection that never got an HTTP answer is a failure.
        if (!/Unexpected server response/.test(err.message)) reject(err);
      });
    });
  }

  /** Close every socket a test left open. */
  static closeAll(): void {
    for (const s of TestSocket.#live) s.ws.terminate();
    TestSocket.#live.clear();
  }

  /** An object goes as JSON; a string goes as it is. */
  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** A binary frame. */
  sendBinary(data: Buffer): void {
    this.ws.send(data, { binary: true });
  }

  /**
   * The next message of this type, or of one of these types (already received, or arriving
   * within `timeoutMs`). Rejects at once if the socket closes first.
   */
  next(type: string | string[], timeoutMs = 3_000, where: (m: Message) => boolean = () => true): Promise<Message> {
    const types = Array.isArray(type) ? type : [type];
    const name = types.join('" or "');
    const match = (m: Message) => types.includes(m.type as string) && where(m);
    const i = this.received.findIndex(match);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]);
    if (this.#closeEvent) return Promise.reject(new Error(`waiting for "${name}": ${this.#closedText()}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(new Error(`waiting for "${name}": ${err.message}`));
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no "${name}" message within ${timeoutMs} ms; unclaimed: ${JSON.stringify(this.received)}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The next error reply. */
  error(timeoutMs = 3_000): Promise<Message> {
    return this.next('error', timeoutMs);
  }

  /** Send a frame and resolve with the error code of the reply. */
  async errorFor(frame: unknown, timeoutMs = 3_000): Promise<string> {
    this.send(frame);
    return String((await this.error(timeoutMs)).code);
  }

  /** Wait a quiet moment, then take every message nobody claimed. */
  async unclaimed(waitMs = 300): Promise<Message[]> {
    await new Promise((r) => setTimeout(r, waitMs));
    return this.received.splice(0);
  }

  /** Like `unclaimed`, without the room status broadcasts (viewer counts change as peers come and go). */
  async quiet(waitMs = 300): Promise<Message[]> {
    return (await this.unclaimed(waitMs)).filter((m) => m.type !== 'room');
  }

  /** The close event, or a failure when the socket is still open after `timeoutMs`. */
  closedWithin(timeoutMs = 3_000): Promise<CloseEvent> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the socket is still open after ${timeoutMs} ms; unclaimed: ${JSON.stringify(this.received)}`)), timeoutMs);
    });
    return Promise.race([this.closed, late]).finally(() => clearTimeout(timer));
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The close event, once it happened. */
  get closeEvent(): CloseEvent | undefined {
    return this.#closeEvent;
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  /** Drop the TCP connection without a close frame, like a tab that crashed. */
  terminate(): void {
    this.ws.terminate();
  }

  #closedText(): string {
    const e = this.#closeEvent!;
    return `the socket closed (${e.code}${e.reason ? ` ${e.reason}` : ''}); unclaimed: ${JSON.stringify(this.received)}`;
  }
}
