/**
 * The browser's end of `/ws`: connects, joins, validates what the server says, and reconnects
 * with backoff (re-joining in the same role) until told to stop or refused for good.
 */
import { Emitter } from './emitter.js';
import {
  ServerMessage,
  type ClientMessage,
  type ErrorCode,
  type ErrorMessage,
  type WelcomeMessage,
} from '../signaling/protocol.js';

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

export class SignalingClient extends Emitter<SignalingEvents> {
  readonly #url: string;
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
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify(this.#join));
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
    ws.onmessage = (event) => {
      this.#lastHeard = Date.now();
      let parsed;
      try {
        parsed = ServerMessage.safeParse(JSON.parse(String(event.data)));
      } catch {
        return;
      }
      if (!parsed.success) return console.warn('lancast: ignoring unexpected server message', event.data);
      const msg = parsed.data;
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
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      clearInterval(this.#keepalive);
      ws.onclose = null;
      this.#ws = undefined;
      this.id = undefined;
      this.emit('disconnected');
      if (this.#stopped) return;
      const base = Math.min(this.#maxDelay, this.#minDelay * 2 ** this.#attempt++);
      this.#timer = setTimeout(() => this.#connect(), base * (0.8 + Math.random() * 0.4));
    };
  }
}
