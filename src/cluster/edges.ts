/**
 * Edges: a room watched on this node while its broadcaster is on another is pulled here once
 * (pull.ts) and fanned out by this node's relay, whatever the number of viewers here. A pull ends
 * when nobody has watched here for a while (so the origin can pause), when its source stops
 * holding the room, or when the room's origin moves (a takeover, the origin died and the
 * broadcaster came back elsewhere); while viewers remain, the next tick pulls again.
 */
import type { Logger } from 'pino';
import { MediaRequestError } from '../signaling/hub.js';
import type { Peer } from '../signaling/peer.js';
import type { ClusterNode } from './node.js';
import { endPull, requestPull, sendAnswer, type Offered } from './pull.js';

/** The address a pull's stand-in broadcaster has in this node's hub: names the source node. */
const PULL_ADDRESS = 'cluster-pull:';
/** A source missing from the cluster's picture this long is gone (not Redis restarting). */
const SOURCE_GRACE_MS = 1_500;
/** After a failed pull, wait this long before trying that room again. */
const RETRY_MS = 1_000;

interface Pull {
  readonly room: string;
  readonly originId: string;
  offered?: Offered;
  /** The stand-in broadcaster's id in the hub, once published. */
  session?: string;
  up: boolean;
  closed: boolean;
  missingSince?: number;
  idleSince?: number;
  waiters: (() => void)[];
}

export class EdgePulls {
  readonly #node: ClusterNode;
  readonly #logger: Logger;
  readonly #pulls = new Map<string, Pull>();
  readonly #failedAt = new Map<string, number>();

  constructor(node: ClusterNode, logger: Logger) {
    this.#node = node;
    this.#logger = logger;
  }

  get count(): number {
    return this.#pulls.size;
  }

  /** The source node's id when `broadcaster` is a pull's stand-in, else undefined. */
  sourceOf(broadcaster: Peer): string | undefined {
    const address = broadcaster.link.address;
    return address.startsWith(PULL_ADDRESS) ? address.slice(PULL_ADDRESS.length) : undefined;
  }

  /** Is the room's stream on another node, to be pulled here? */
  #remote(room: string): { id: string; url: string } | undefined {
    const cluster = this.#node.rooms.get(room);
    const origin = cluster?.origin;
    if (!origin || origin.id === this.#node.id || cluster.originRoom?.configuredMode === 'p2p') return undefined;
    return origin;
  }

  /**
   * Pull `room` now if its stream is on another node and not here yet (a watch page is loading,
   * a WHEP player is asking); resolves once it is live here or after `timeoutMs`.
   */
  async ensure(room: string, timeoutMs: number): Promise<void> {
    if (this.#node.hub.rooms.get(room)?.live) return;
    let pull = this.#pulls.get(room);
    if (!pull) {
      const origin = this.#remote(room);
      if (!origin) return;
      pull = this.#start(room, origin);
    }
    if (pull.up) return;
    const waiting = pull;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      waiting.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async tick(): Promise<void> {
    const hub = this.#node.hub;
    const now = Date.now();
    for (const pull of [...this.#pulls.values()]) {
      if (!pull.up) continue;
      const room = hub.rooms.get(pull.room);
      // Its stand-in left (the upstream failed) or a broadcaster took the room here.
      if (!room?.broadcaster || room.broadcaster.id !== pull.session) {
        this.#stop(pull, 'its upstream ended');
        continue;
      }
      const cluster = this.#node.rooms.get(pull.room);
      if (cluster?.origin && cluster.origin.id !== pull.originId) {
        this.#stop(pull, 'the room moved to another origin');
        continue;
      }
      const sourceId = this.sourceOf(room.broadcaster);
      const source = this.#node.node(sourceId);
      const holds = source?.rooms.some((r) => r.name === pull.room && r.role !== 'none');
      if (!holds || !cluster?.origin) {
        pull.missingSince ??= now;
        if (now - pull.missingSince > SOURCE_GRACE_MS) {
          this.#stop(pull, 'its source no longer holds the room');
          continue;
        }
      } else pull.missingSince = undefined;
      if (room.viewers.size + room.players.size === 0) {
        pull.idleSince ??= now;
        if (now - pull.idleSince > this.#node.options.lingerMs) this.#stop(pull, 'nobody watches it here');
      } else pull.idleSince = undefined;
    }
    for (const room of hub.rooms.values()) {
      if (room.broadcaster || this.#pulls.has(room.name) || room.viewers.size + room.players.size === 0) continue;
      if (now - (this.#failedAt.get(room.name) ?? 0) < RETRY_MS) continue;
      const origin = this.#remote(room.name);
      if (origin) this.#start(room.name, origin);
    }
  }

  #start(room: string, origin: { id: string; url: string }): Pull {
    const pull: Pull = { room, originId: origin.id, up: false, closed: false, waiters: [] };
    this.#pulls.set(room, pull);
    void this.#connect(pull, origin.url);
    return pull;
  }

  async #connect(pull: Pull, originUrl: string): Promise<void> {
    const { hub, options } = this.#node;
    const secret = options.config.secret;
    try {
      const offered = await requestPull(originUrl, pull.room, secret, this.#node.id);
      pull.offered = offered;
      if (pull.closed) return void endPull(offered, secret);
      const sourceId = this.#node.nodeByUrl(offered.source)?.id ?? pull.originId;
      const session = await hub.publishWhip(pull.room, offered.offer, `${PULL_ADDRESS}${sourceId}`);
      pull.session = session.id;
      if (pull.closed) return void hub.stopWhip(pull.room, session.id);
      await sendAnswer(offered, session.answer, secret);
      pull.up = true;
      this.#logger.info({ room: pull.room, from: offered.source }, 'pulling a room from another node');
    } catch (err) {
      const why = err instanceof MediaRequestError && err.code === 'busy' ? 'a broadcaster is here' : (err as Error).message;
      this.#logger.warn({ room: pull.room, from: originUrl, err: why }, 'could not pull a room');
      this.#failedAt.set(pull.room, Date.now());
      this.#stop(pull, undefined);
    } finally {
      for (const wake of pull.waiters.splice(0)) wake();
    }
  }

  #stop(pull: Pull, why: string | undefined): void {
    if (pull.closed) return;
    pull.closed = true;
    if (this.#pulls.get(pull.room) === pull) this.#pulls.delete(pull.room);
    if (why) this.#logger.info({ room: pull.room, why }, 'pull ended');
    if (pull.session && this.#node.hub.rooms.get(pull.room)?.broadcaster?.id === pull.session) this.#node.hub.stopWhip(pull.room, pull.session);
    if (pull.offered) void endPull(pull.offered, this.#node.options.config.secret);
    for (const wake of pull.waiters.splice(0)) wake();
  }

  close(): void {
    for (const pull of [...this.#pulls.values()]) this.#stop(pull, undefined);
  }
}
