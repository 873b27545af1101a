/** A promise-based signaling client for tests: real WebSocket, real frames. */
import WebSocket from 'ws';

export class TestSocket {
  readonly ws: WebSocket;
  readonly received: Record<string, unknown>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: { match: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as Record<string, unknown>;
      const i = this.#waiters.findIndex((w) => w.match(msg));
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(msg);
      else this.received.push(msg);
    });
    ws.on('error', () => undefined);
  }

  static async open(url: string): Promise<TestSocket> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return new TestSocket(ws);
  }

  /** Open and join; resolves with the welcome. */
  static async join(url: string, join: Record<string, unknown>): Promise<{ socket: TestSocket; id: string }> {
    const socket = await TestSocket.open(url);
    socket.send({ type: 'join', ...join });
    const welcome = await socket.next('welcome');
    return { socket, id: welcome.id as string };
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The next message of this type (already received, or arriving within `timeoutMs`). */
  next(type: string, timeoutMs = 3_000, where: (m: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    const match = (m: Record<string, unknown>) => m.type === type && where(m);
    const i = this.received.findIndex(match);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (m: Record<string, unknown>) => (clearTimeout(timer), resolve(m)) };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no "${type}" message within ${timeoutMs} ms; got ${JSON.stringify(this.received)}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The next error; asserts nothing else is pending. */
  error(timeoutMs = 3_000): Promise<Record<string, unknown>> {
    return this.next('error', timeoutMs);
  }

  /** Messages that arrived and nobody asked for, after a short quiet wait. */
  async unclaimed(waitMs = 300): Promise<Record<string, unknown>[]> {
    await new Promise((r) => setTimeout(r, waitMs));
    return this.received.splice(0);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.ws.close();
  }
}
