/**
 * The seed's protocol (`--legacy`), translated onto the hub so the seed's own push and pull pages
 * work unchanged, in room `main`, and even mix with lancast's pages.
 *
 * The seed's six messages: `push_init` (I am the pusher), `pull_init {id}` (I am a viewer),
 * `pull_start {id}` (send me the stream), `offer {id, offer}`, `answer {id, answer}`,
 * `candidate {id, candidate}`. Its defects stay out of lancast: viewer ids from clients are only
 * echoed back to that client, never used to route; routing uses the hub's server-assigned ids.
 *
 * The seed's push page applies every answer to its *latest* RTCPeerConnection (a global). We
 * cannot fix that page, so we serialise for it: the next `pull_start` goes to a legacy pusher only
 * once the previous viewer's answer has been delivered (or a timeout passed).
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Hub } from './hub.js';
import type { Peer } from './peer.js';
import { IceCandidate, type ServerMessage } from './protocol.js';

export const LEGACY_ROOM = 'main';
/** After an answer reaches the seed pusher, let its candidates land before the next offer. */
const SETTLE_MS = 400;
/** A viewer that never answers does not block the queue for longer than this. */
const ANSWER_TIMEOUT_MS = 5_000;

const LegacyId = z.union([z.string().max(64), z.number()]).transform(String);
const Description = z.object({ type: z.string().optional(), sdp: z.string().min(1).max(32 * 1024) });
const LegacyMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('push_init') }),
  z.object({ type: z.literal('pull_init'), id: LegacyId.optional() }),
  z.object({ type: z.literal('pull_start'), id: LegacyId.optional() }),
  z.object({ type: z.literal('offer'), id: LegacyId, offer: Description }),
  z.object({ type: z.literal('answer'), id: LegacyId.optional(), answer: Description }),
  z.object({ type: z.literal('candidate'), id: LegacyId.optional(), candidate: IceCandidate.nullish() }),
]);

/** True when a first frame is the seed's opening (`push_init` or `pull_init`). */
export function isLegacyOpening(text: string): boolean {
  if (text.length > 1024) return false;
  try {
    const type = (JSON.parse(text) as { type?: unknown } | null)?.type;
    return type === 'push_init' || type === 'pull_init';
  } catch {
    return false;
  }
}

export class LegacySession {
  readonly #hub: Hub;
  readonly #peer: Peer;
  readonly #send: (msg: unknown) => void;
  readonly #logger: Logger;
  /** The id this (viewer) client chose for itself; echoed back to it only. */
  #claimedId = '';
  /** Viewer side: the broadcaster and connection of the latest offer. */
  #remote: { id: string; cid: string } | undefined;
  /** Pusher side: connection id per viewer, and the pull_start queue. */
  readonly #cids = new Map<string, string>();
  readonly #queue: string[] = [];
  #awaiting: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #serial = 0;

  constructor(hub: Hub, peer: Peer, send: (msg: unknown) => void, logger: Logger) {
    this.#hub = hub;
    this.#peer = peer;
    this.#send = send;
    this.#logger = logger;
  }

  /** A frame from the seed page. */
  receive(text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return this.#hub.reject(this.#peer, 'bad-json', 'message is not valid JSON');
    }
    const parsed = LegacyMessage.safeParse(raw);
    if (!parsed.success) {
      const type = (raw as { type?: unknown } | null)?.type;
      return this.#hub.reject(this.#peer, 'bad-message', 'not a valid seed-protocol message', String(type).slice(0, 32));
    }
    const msg = parsed.data;
    const hub = this.#hub;
    switch (msg.type) {
      case 'push_init':
        return hub.receive(this.#peer, { type: 'join', role: 'broadcaster', room: LEGACY_ROOM }, { trusted: true });
      case 'pull_init':
        this.#claimedId = msg.id ?? '';
        return;
      case 'pull_start':
        if (msg.id !== undefined) this.#claimedId = msg.id;
        if (this.#peer.room) {
          // Asked again: a fresh connection from the broadcaster.
          if (this.#remote) hub.receive(this.#peer, { type: 'restart', to: this.#remote.id });
          return;
        }
        return hub.receive(this.#peer, { type: 'join', role: 'viewer', room: LEGACY_ROOM });
      case 'offer': {
        const cid = `legacy-${++this.#serial}`;
        this.#cids.set(msg.id, cid);
        return hub.receive(this.#peer, { type: 'offer', to: msg.id, cid, sdp: msg.offer.sdp });
      }
      case 'answer':
        if (!this.#remote) return hub.reject(this.#peer, 'no-such-peer', 'no offer to answer', 'answer');
        return hub.receive(this.#peer, { type: 'answer', to: this.#remote.id, cid: this.#remote.cid, sdp: msg.answer.sdp });
      case 'candidate': {
        const candidate = msg.candidate ?? null;
        if (this.#peer.role === 'broadcaster') {
          if (msg.id === undefined) return hub.reject(this.#peer, 'bad-message', 'candidate needs an id', 'candidate');
          const cid = this.#cids.get(msg.id);
          if (!cid) return hub.reject(this.#peer, 'no-such-peer', 'no connection for that id', 'candidate');
          return hub.receive(this.#peer, { type: 'candidate', to: msg.id, cid, candidate });
        }
        if (!this.#remote) return; // candidates before any offer have nowhere to go
        return hub.receive(this.#peer, { type: 'candidate', to: this.#remote.id, cid: this.#remote.cid, candidate });
      }
    }
  }

  /** A hub message for this seed page, translated to the seed's dialect (or dropped). */
  deliver(msg: ServerMessage): void {
    switch (msg.type) {
      case 'viewer-joined':
        this.#queue.push(msg.id);
        return this.#pump();
      case 'viewer-left': {
        this.#cids.delete(msg.id);
        const i = this.#queue.indexOf(msg.id);
        if (i >= 0) this.#queue.splice(i, 1);
        if (this.#awaiting === msg.id) this.#release(0);
        return;
      }
      case 'restart':
        this.#queue.push(msg.from);
        return this.#pump();
      case 'offer':
        this.#remote = { id: msg.from, cid: msg.cid };
        return this.#send({ type: 'offer', id: this.#claimedId, offer: { type: 'offer', sdp: msg.sdp } });
      case 'answer':
        this.#send({ type: 'answer', id: msg.from, answer: { type: 'answer', sdp: msg.sdp } });
        if (this.#awaiting === msg.from) this.#release(SETTLE_MS);
        return;
      case 'candidate':
        if (!msg.candidate) return; // the seed pages never expect end-of-candidates
        if (this.#peer.role === 'viewer' && msg.cid !== this.#remote?.cid) return;
        return this.#send({
          type: 'candidate',
          candidate: msg.candidate,
          id: this.#peer.role === 'broadcaster' ? msg.from : this.#claimedId,
        });
      case 'error':
        this.#logger.debug({ code: msg.code, message: msg.message }, 'legacy client error');
        return;
      default:
        return; // welcome, room status: the seed pages know nothing of them
    }
  }

  /** Hand the seed pusher its next viewer, one at a time. */
  #pump(): void {
    if (this.#awaiting !== undefined) return;
    const next = this.#queue.shift();
    if (next === undefined) return;
    this.#awaiting = next;
    this.#send({ type: 'pull_start', id: next });
    this.#timer = setTimeout(() => this.#release(0), ANSWER_TIMEOUT_MS);
  }

  #release(afterMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#awaiting = undefined;
      this.#timer = undefined;
      this.#pump();
    }, afterMs);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#queue.length = 0;
  }
}
