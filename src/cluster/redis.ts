/**
 * The Redis side of a cluster: one ioredis connection, the node records (a key per node that
 * expires unless its heartbeat renews it) and the shared publish key. Media never goes through
 * Redis: when it restarts or is unreachable, streams go on and nodes write again once it is back.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { NodeRecord } from './records.js';

const PREFIX = 'lancast:';
/** A node whose heartbeat stops disappears from the cluster after this long. */
export const NODE_TTL_MS = 4_000;
const CONNECT_TIMEOUT_MS = 4_000;

/** The URL with its password hidden, fit for messages and logs. */
export function redactedUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

export class ClusterStore {
  readonly #redis: Redis;
  readonly #logger: Logger;
  #up = true;

  private constructor(redis: Redis, logger: Logger) {
    this.#redis = redis;
    this.#logger = logger;
  }

  /** Connects, or rejects with an error that says which Redis could not be reached and why. */
  static async connect(url: string, logger: Logger): Promise<ClusterStore> {
    let lastError = 'no answer';
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // Commands fail at once while Redis is away (the heartbeat tries again a second later)
      // instead of queueing up.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 500,
    });
    redis.on('error', (err: Error) => (lastError = err.message || String(err)));
    try {
      await Promise.race([
        redis.connect(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS).unref()),
      ]);
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      throw new Error(`cannot reach Redis at ${redactedUrl(url)}: ${lastError !== 'no answer' ? lastError : (err as Error).message}`, { cause: err });
    }
    const store = new ClusterStore(redis, logger);
    redis.removeAllListeners('error');
    redis.on('error', (err: Error) => store.#down(err.message));
    redis.on('ready', () => {
      if (store.#up) return;
      store.#up = true;
      logger.info({ redis: redactedUrl(url) }, 'Redis is back: this node registers again');
    });
    return store;
  }

  #down(why: string): void {
    if (!this.#up) return;
    this.#up = false;
    this.#logger.warn({ err: why }, 'lost Redis: this node keeps serving what it has and retries');
  }

  get up(): boolean {
    return this.#up && this.#redis.status === 'ready';
  }

  /** The cluster's publish key: the first node to ask makes it, every other reads it. */
  async sharedPublishKey(): Promise<string> {
    await this.#redis.set(`${PREFIX}publish-key`, randomBytes(9).toString('base64url'), 'NX');
    return (await this.#redis.get(`${PREFIX}publish-key`))!;
  }

  /** Put the shared key back after Redis lost it (a restart without persistence). */
  async keepPublishKey(key: string): Promise<void> {
    await this.#redis.set(`${PREFIX}publish-key`, key, 'NX');
  }

  async writeNode(record: NodeRecord): Promise<void> {
    await this.#redis.set(`${PREFIX}node:${record.id}`, JSON.stringify(record), 'PX', NODE_TTL_MS);
  }

  async removeNode(id: string): Promise<void> {
    await this.#redis.del(`${PREFIX}node:${id}`);
  }

  /** Every registered node's record. */
  async readNodes(): Promise<NodeRecord[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.#redis.scan(cursor, 'MATCH', `${PREFIX}node:*`, 'COUNT', 200);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.#redis.mget(...keys);
    const records: NodeRecord[] = [];
    for (const v of values) {
      if (!v) continue;
      try {
        records.push(JSON.parse(v) as NodeRecord);
      } catch {
        // a record another version wrote: ignore it
      }
    }
    return records;
  }

  close(): void {
    this.#redis.disconnect();
  }
}
