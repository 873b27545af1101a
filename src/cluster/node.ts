/**
 * One lancast node of a cluster: it writes what it holds to Redis every heartbeat, reads what
 * every other node holds, and from that knows each room's origin and total viewers. A second
 * broadcaster with the key on another node takes the room over (the newest origin wins); pulls
 * (edges.ts) and redirects (routes.ts) use the same picture.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { ClusterConfig } from '../config.js';
import type { Hub } from '../signaling/hub.js';
import { CloseCode } from '../signaling/protocol.js';
import type { Room } from '../signaling/room.js';
import { EdgePulls } from './edges.js';
import { clusterRooms, type ClusterRoom, type NodeRecord, type RoomRecord } from './records.js';
import type { ClusterStore } from './redis.js';
import { seal, unseal } from './secret-box.js';

const TICK_MS = 500;

export interface ClusterNodeOptions {
  config: ClusterConfig;
  store: ClusterStore;
  logger: Logger;
  maxViewers: number;
  /** The node's own --view-password (every room here needs it). */
  viewPassword: string | undefined;
  /** How long a pulled room may go without viewers here before the pull ends (ms). */
  lingerMs: number;
  /** The publish key the cluster keeps in Redis, when this node uses it (no --publish-key). */
  sharedPublishKey?: string | undefined;
}

export class ClusterNode {
  readonly id = randomBytes(6).toString('hex');
  readonly options: ClusterNodeOptions;
  readonly edges: EdgePulls;
  #hub: Hub | undefined;
  #url = '';
  /** Other nodes' records as last read (never this node's own). */
  #others: NodeRecord[] = [];
  #rooms = new Map<string, ClusterRoom>();
  /** When this node's broadcaster of each room took it, by room: the takeover rule's clock. */
  readonly #origins = new Map<string, { peer: string; since: number }>();
  /** Pulls other nodes hold on this node's rooms: player id -> room. */
  readonly servedPulls = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #cpu = { usage: process.cpuUsage(), at: Date.now(), share: 0 };
  #ticking = false;
  #closed = false;

  constructor(options: ClusterNodeOptions) {
    this.options = options;
    this.edges = new EdgePulls(this, options.logger);
  }

  get hub(): Hub {
    return this.#hub!;
  }

  get url(): string {
    return this.#url;
  }

  get logger(): Logger {
    return this.options.logger;
  }

  /** Every room any node holds, with its origin and total viewers (this node's part fresh). */
  get rooms(): ReadonlyMap<string, ClusterRoom> {
    return this.#rooms;
  }

  /** Every node, this one included. */
  get nodes(): NodeRecord[] {
    return [...this.#others, this.#record()];
  }

  attach(hub: Hub): void {
    this.#hub = hub;
  }

  /** Start the heartbeat once the node listens and knows its URL. */
  async start(url: string): Promise<void> {
    this.#url = url;
    await this.#tick();
    this.#timer = setInterval(() => void this.#tick(), TICK_MS);
    this.logger.info({ node: this.id, url }, 'joined the cluster');
  }

  node(id: string | undefined): NodeRecord | undefined {
    return this.nodes.find((n) => n.id === id);
  }

  nodeByUrl(url: string): NodeRecord | undefined {
    return this.nodes.find((n) => n.url === url);
  }

  /** The room's own view password set on its origin, if it set one. */
  viewPasswordOf(room: string): string | undefined {
    const sealed = this.#rooms.get(room)?.originRoom?.password;
    return sealed === undefined ? undefined : unseal(this.options.config.secret, sealed);
  }

  /** A room needs a password somewhere: its origin's own, or a node-wide one. */
  isProtected(name: string): boolean {
    const room = this.#rooms.get(name);
    return this.options.viewPassword !== undefined || room?.originRoom?.password !== undefined || room?.origin?.passwordAll === true;
  }

  /** Is this player on one of this node's rooms another node's pull? */
  countedViewers(room: Room): number {
    let pulls = 0;
    for (const id of room.players.keys()) if (this.servedPulls.has(id)) pulls++;
    return room.viewers.size + room.players.size - pulls;
  }

  #roomRecord(room: Room): RoomRecord {
    const broadcaster = room.broadcaster;
    const pulled = broadcaster ? this.edges.sourceOf(broadcaster) : undefined;
    const role = !broadcaster ? 'none' : pulled !== undefined ? 'edge' : 'origin';
    const record: RoomRecord = {
      name: room.name,
      role,
      viewers: this.countedViewers(room),
      load: room.viewers.size + room.players.size,
      mode: room.mode,
      configuredMode: room.configuredMode,
      reason: room.reason,
    };
    if (role === 'origin') {
      let origin = this.#origins.get(room.name);
      if (origin?.peer !== broadcaster!.id) this.#origins.set(room.name, (origin = { peer: broadcaster!.id, since: Date.now() }));
      record.since = origin.since;
      if (room.viewPassword !== undefined) record.password = this.#sealed(room.viewPassword);
    }
    if (role === 'edge') record.source = pulled;
    return record;
  }

  readonly #sealCache = new Map<string, string>();
  /** Sealed once per password: a fresh IV every heartbeat would only churn Redis. */
  #sealed(password: string): string {
    let s = this.#sealCache.get(password);
    if (!s) this.#sealCache.set(password, (s = seal(this.options.config.secret, password)));
    return s;
  }

  #record(): NodeRecord {
    const rooms = [...(this.#hub?.rooms.values() ?? [])].map((r) => this.#roomRecord(r));
    for (const name of this.#origins.keys()) if (!rooms.some((r) => r.name === name && r.role === 'origin')) this.#origins.delete(name);
    return {
      id: this.id,
      url: this.#url,
      viewers: rooms.reduce((n, r) => n + r.viewers, 0),
      cpu: this.#cpu.share,
      maxViewers: this.options.maxViewers,
      passwordAll: this.options.viewPassword !== undefined,
      rooms,
      at: Date.now(),
    };
  }

  #measureCpu(): void {
    const now = Date.now();
    const used = process.cpuUsage(this.#cpu.usage);
    const elapsed = (now - this.#cpu.at) * 1000 * availableParallelism();
    if (elapsed > 0) this.#cpu = { usage: process.cpuUsage(), at: now, share: Math.min(1, (used.user + used.system) / elapsed) };
  }

  async #tick(): Promise<void> {
    if (this.#ticking || this.#closed) return;
    this.#ticking = true;
    try {
      this.#measureCpu();
      const mine = this.#record();
      const { store } = this.options;
      try {
        await store.writeNode(mine);
        if (this.options.sharedPublishKey) await store.keepPublishKey(this.options.sharedPublishKey);
        this.#others = (await store.readNodes()).filter((n) => n.id !== this.id);
      } catch {
        // Redis is away (logged once by the store): go on with what was last read.
      }
      this.#rooms = clusterRooms([...this.#others, mine]);
      this.#takeovers();
      await this.edges.tick();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'cluster heartbeat failed');
    } finally {
      this.#ticking = false;
    }
  }

  /** A newer broadcaster of a room on another node replaces this node's (the key holder wins). */
  #takeovers(): void {
    for (const [name, mine] of this.#origins) {
      const origin = this.#rooms.get(name)?.origin;
      if (!origin || origin.id === this.id) continue;
      const room = this.#hub?.rooms.get(name);
      const broadcaster = room?.broadcaster;
      if (!broadcaster || broadcaster.id !== mine.peer) continue;
      this.logger.info({ room: name, by: origin.url }, 'broadcaster replaced by one on another node');
      this.#origins.delete(name);
      broadcaster.error('replaced', 'another broadcaster with the publish key took over this room');
      broadcaster.link.close(CloseCode.replaced, 'replaced by another broadcaster');
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.edges.close();
    // Leave at once rather than after the record expires: pulls and redirects stop coming.
    await this.options.store.removeNode(this.id).catch(() => undefined);
    this.options.store.close();
  }
}
