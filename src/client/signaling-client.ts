/**
 * The browser's end of `/ws`: connects, joins, validates what the server says, and reconnects
 * with backoff (re-joining in the same role) until told to stop or refused for good.
 */
import { Emitter } from './emitter.js';
import type {
  ServerMessage,
  ClientMessage,
  ErrorCode,
  ErrorMessage,
  WelcomeMessage,
} from '../signaling/protocol.js';

/**
 * What the server may send. Its messages are built from the zod schemas in protocol.ts and
 * checked by the server's tests; the pages do not carry zod (it would slow every page load on the
 * path to the first frame) and only check the shape: an object with a known `type`. Fields are read defensively where they are used.
 */
const SERVER_TYPES: Record<ServerMessage['type'], true> = {
  welcome: true,
  error: true,
  room: true,
  'viewer-joined': true,
  'viewer-left': true,
  quality: true,
  offer: true,
  answer: true,
  candidate: true,
  restart: true,
  hangup: true,
  pause: true,
  layers: true,
  pong: true,
};

function asServerMessage(data: unknown): ServerMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(String(data));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' && Object.hasOwn(SERVER_TYPES, type) ? (value as ServerMessage) : undefined;
}

type JoinMessage = Extract<ClientMessage, { type: 'join' }>;

/** Refusals that retrying cannot fix: the user has to act. */
const FATAL: ReadonlySet<ErrorCode> = new Set([
  'bad-key',
  'bad-password',
  'bad-room',
  'replaced',
  'legacy-disabled',
  'room-full',
  'too-many-rooms',
  'too-many-attempts',
]);

export type SignalingEvents = {
  welcome: [WelcomeMessage, { rejoined: boolean }];
  message: [ServerMessage];
  /** A refusal; `fatal` ones stop the client. */
  error: [ErrorMessage, { fatal: boolean }];
  /** The socket dropped; it will come back unless stopped. */
  disconnected: [];
};

export interface SignalingOptions {
  /** ws:// or wss:// URL of /ws; defaults to this page's origin. */
  url?: string;
  join: JoinMessage;
  /**
   * Other nodes of the same lancast cluster (ws:// URLs of their /ws), best first: when a
   * reconnect fails, the next attempt goes to the next of them.
   */
  alternates?: () => string[];
  /** Backoff bounds in ms. */
  minDelay?: number;
  maxDelay?: number;
}

/** How often the client asks the server whether it is there, and how long silence may last. */
const PING_MS = 3_000;
const SILENCE_MS = 8_000;

export function defaultSignalingUrl(): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

/**
 * The socket a page's inline head script opened (and joined on) while the page's bundle was still
 * loading: see `earlySocketScript` in src/web/pages.ts. The messages it received so far wait in
 * `messages`.
 */
interface EarlySocket {
  ws: WebSocket;
  url: string;
  join: string;
  messages: string[];
}

/** Take the page's early socket if it was opened for this URL and this join; once only. */
function takeEarlySocket(url: string, join: JoinMessage): EarlySocket | undefined {
  const holder = globalThis as { __lancastEarlySocket?: EarlySocket };
  const early = holder.__lancastEarlySocket;
  if (!early) return undefined;
  delete holder.__lancastEarlySocket;
  const usable = early.url === url && early.join === JSON.stringify(join) && early.ws.readyState <= WebSocket.OPEN;
  if (usable) return early;
  early.ws.onopen = early.ws.onmessage = null;
  early.ws.close(1000, 'not needed');
  return undefined;
}

export class SignalingClient extends Emitter<SignalingEvents> {
  readonly #url: string;
  /** Where the next connection goes: `#url`, or another node of its cluster when that failed. */
  #current: string;
  readonly #alternates: () => string[];
  #join: JoinMessage;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  #ws: WebSocket | undefined;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #welcomed = false;
  #lastHeard = 0;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  id: string | undefined;

  constructor(options: SignalingOptions) {
    super();
    this.#url = options.url ?? defaultSignalingUrl();
    this.#current = this.#url;
    this.#alternates = options.alternates ?? (() => []);
    this.#join = options.join;
    this.#minDelay = options.minDelay ?? 300;
    this.#maxDelay = options.maxDelay ?? 3_000;
  }

  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN && this.id !== undefined;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** Change what is sent on (re)join, e.g. after the user typed another key. */
  setJoin(join: JoinMessage): void {
    this.#join = join;
  }

  send(msg: ClientMessage): boolean {
    if (this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(msg));
    return true;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#keepalive);
    if (this.#ws) {
      this.#ws.onclose = null;
      if (this.#ws.readyState === WebSocket.OPEN) this.send({ type: 'leave' });
      this.#ws.close(1000, 'bye');
      this.#ws = undefined;
    }
    this.id = undefined;
  }

  #connect(): void {
    const early = takeEarlySocket(this.#current, this.#join);
    const ws = early?.ws ?? new WebSocket(this.#current);
    this.#ws = ws;
    const opened = (joinSent: boolean) => {
      if (!joinSent) ws.send(JSON.stringify(this.#join));
      this.#lastHeard = Date.now();
      clearInterval(this.#keepalive);
      // A network that vanished leaves a socket that looks open; silence is how we notice.
      this.#keepalive = setInterval(() => {
        if (Date.now() - this.#lastHeard > SILENCE_MS) {
          clearInterval(this.#keepalive);
          ws.close(4000, 'server silent');
          ws.onclose?.(new CloseEvent('close'));
          return;
        }
        if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"ping"}');
      }, PING_MS);
    };
    // An early socket that is already open has sent the join; one still connecting has not.
    if (early && ws.readyState === WebSocket.OPEN) opened(true);
    else ws.onopen = () => opened(false);
    ws.onmessage = (event) => {
      this.#lastHeard = Date.now();
      const msg = asServerMessage(event.data);
      if (!msg) return console.warn('lancast: ignoring unexpected server message', event.data);
      if (msg.type === 'pong') return;
      if (msg.type === 'welcome') {
        this.#attempt = 0;
        this.id = msg.id;
        this.emit('welcome', msg, { rejoined: this.#welcomed });
        this.#welcomed = true;
        return;
      }
      if (msg.type === 'error') {
        const fatal = FATAL.has(msg.code);
        if (fatal) this.stop();
        this.emit('error', msg, { fatal });
        return;
      }
      this.emit('message', msg);
    };
    if (early) {
      const handle = ws.onmessage;
      queueMicrotask(() => {
        for (const data of early.messages.splice(0)) if (this.#ws === ws) handle?.call(ws, new MessageEvent('message', { data }));
      });
    }
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      clearInterval(this.#keepalive);
      ws.onclose = null;
      this.#ws = undefined;
      this.id = undefined;
      this.emit('disconnected');
      if (this.#stopped) return;
      // A node that dropped us and then refused a reconnect is likely gone: try another.
      if (this.#attempt >= 1) this.#current = this.#next();
      const base = Math.min(this.#maxDelay, this.#minDelay * 2 ** this.#attempt++);
      this.#timer = setTimeout(() => this.#connect(), base * (0.8 + Math.random() * 0.4));
    };
  }

  /** The node after the current one, among this page's own and the cluster's others. */
  #next(): string {
    const all = [this.#url, ...this.#alternates().filter((u) => u !== this.#url)];
    return all[(all.indexOf(this.#current) + 1) % all.length] ?? this.#url;
  }
}
