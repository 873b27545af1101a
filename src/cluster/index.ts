/**
 * What the rest of lancast uses of the cluster (`--redis`): open it before the server starts (a
 * node that cannot reach Redis says so and does not start), the room list every node shows, and
 * the cluster's metrics.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { ClusterNode } from './node.js';
import { ClusterStore } from './redis.js';

export { ClusterNode } from './node.js';
export { clusterRoutes } from './routes.js';

export async function openCluster(config: Config, logger: Logger): Promise<{ node: ClusterNode; publishKey: string | undefined }> {
  const settings = config.cluster!;
  const log = logger.child({ component: 'cluster' });
  const store = await ClusterStore.connect(settings.redis, log);
  const node = new ClusterNode({
    config: settings,
    store,
    logger: log,
    maxViewers: config.limits.maxViewers,
    viewPassword: config.viewPassword,
    lingerMs: Math.max(2, config.pauseAfter || 5) * 1000,
  });
  try {
    // Without --publish-key every node uses the one the cluster keeps, so a key works on any node.
    if (config.publishKey !== undefined) return { node, publishKey: config.publishKey };
    node.options.sharedPublishKey = await store.sharedPublishKey();
    return { node, publishKey: node.options.sharedPublishKey };
  } catch (err) {
    store.close();
    throw new Error(`cannot read the cluster's publish key from Redis: ${(err as Error).message}`, { cause: err });
  }
}

/** One room as `GET /api/rooms` lists it. */
export interface RoomView {
  name: string;
  live: boolean;
  viewers: number;
  mode: string;
  protected?: boolean;
  reason?: string;
  bitrate?: { in: number; out: number };
  paused?: boolean;
  /** In a cluster: the URL of the node its broadcaster is connected to. */
  origin?: string;
}

/** Every room of the cluster, with every node's viewers counted; this node's own figures where it has them. */
export function clusterRoomViews(node: ClusterNode, local: RoomView[]): RoomView[] {
  const names = new Set([...node.rooms.keys(), ...local.map((r) => r.name)]);
  return [...names].map((name) => {
    const here = local.find((r) => r.name === name);
    const room = node.rooms.get(name);
    const live = room?.origin !== undefined || (here?.live ?? false);
    const mode = room?.originRoom?.mode ?? here?.mode ?? 'p2p';
    if (node.isProtected(name) || here?.protected) return { name, live, protected: true, viewers: 0, mode };
    return {
      name,
      live,
      viewers: room?.viewers ?? here?.viewers ?? 0,
      mode,
      reason: room?.originRoom?.reason ?? here?.reason ?? '',
      bitrate: here?.bitrate ?? { in: 0, out: 0 },
      paused: here?.paused ?? false,
      ...(room?.origin ? { origin: room.origin.url } : {}),
    };
  });
}

export function registerClusterMetrics(registry: Registry, node: ClusterNode): void {
  new Gauge({
    name: 'lancast_cluster_nodes',
    help: 'Nodes of the cluster this node sees, itself included',
    registers: [registry],
    collect() {
      this.set(node.nodes.length);
    },
  });
  new Gauge({
    name: 'lancast_cluster_room_viewers',
    help: "Each room's viewers on every node of the cluster",
    labelNames: ['room'],
    registers: [registry],
    collect() {
      this.reset();
      for (const room of node.rooms.values()) this.set({ room: room.name }, room.viewers);
    },
  });
  new Gauge({
    name: 'lancast_cluster_upstreams',
    help: 'Rooms this node pulls from another node (one upstream each, whatever its viewers)',
    registers: [registry],
    collect() {
      this.set(node.edges.count);
    },
  });
  new Gauge({
    name: 'lancast_cluster_pulls_served',
    help: "Other nodes' pulls of this node's rooms",
    registers: [registry],
    collect() {
      this.set(node.servedPulls.size);
    },
  });
}
