/**
 * What each node writes to Redis about itself, and the cluster-wide picture every node computes
 * from all of them. Pure functions: src/cluster/node.ts does the reading and writing.
 */

/** One room as one node holds it. */
export interface RoomRecord {
  name: string;
  /** origin: its broadcaster is connected here; edge: pulled from `source`; none: viewers wait. */
  role: 'origin' | 'edge' | 'none';
  /** Viewers and WHEP players on this node, other nodes' pulls not counted. */
  viewers: number;
  /** Viewers, players and other nodes' pulls: what --max-viewers limits. */
  load: number;
  mode: string;
  configuredMode: string;
  reason: string;
  /** origin: when this node's broadcaster took the room (ms); the newest origin wins a takeover. */
  since?: number;
  /** origin: the room's own view password, sealed with the cluster secret (secret-box.ts). */
  password?: string;
  /** edge: the node it pulls from. */
  source?: string;
}

export interface NodeRecord {
  id: string;
  /** How other nodes and browsers reach this node (--advertise). */
  url: string;
  /** Viewers on this node, every room. */
  viewers: number;
  /** Share of the machine's CPU this process used over the last heartbeat (0..1). */
  cpu: number;
  maxViewers: number;
  /** The node's own --view-password is set (every room there needs one). */
  passwordAll: boolean;
  rooms: RoomRecord[];
  at: number;
}

/** A room across the cluster. */
export interface ClusterRoom {
  name: string;
  /** The node its broadcaster is connected to, when it is live. */
  origin: NodeRecord | undefined;
  originRoom: RoomRecord | undefined;
  /** Viewers on every node. */
  viewers: number;
  /** Nodes that hold the room's stream (the origin and edges), by id. */
  holders: NodeRecord[];
}

/** Every room any node holds, with its origin (the newest when two nodes claim one) and total viewers. */
export function clusterRooms(nodes: NodeRecord[]): Map<string, ClusterRoom> {
  const rooms = new Map<string, ClusterRoom>();
  for (const node of nodes) {
    for (const r of node.rooms) {
      let room = rooms.get(r.name);
      if (!room) rooms.set(r.name, (room = { name: r.name, origin: undefined, originRoom: undefined, viewers: 0, holders: [] }));
      room.viewers += r.viewers;
      if (r.role !== 'none') room.holders.push(node);
      if (r.role === 'origin' && (!room.originRoom || (r.since ?? 0) > (room.originRoom.since ?? 0))) {
        room.origin = node;
        room.originRoom = r;
      }
    }
  }
  return rooms;
}

/** The node with the fewest viewers (then the least CPU) among `nodes`, if any. */
export function leastLoaded(nodes: NodeRecord[]): NodeRecord | undefined {
  return [...nodes].sort((a, b) => a.viewers - b.viewers || a.cpu - b.cpu || a.id.localeCompare(b.id))[0];
}

/** Nodes where room `name` has room for one more viewer. */
export function withRoomFor(nodes: NodeRecord[], name: string): NodeRecord[] {
  return nodes.filter((n) => (n.rooms.find((r) => r.name === name)?.load ?? 0) < n.maxViewers);
}
