import type { Mode, RoomMessage, ServerMessage } from './protocol.js';
import type { Peer } from './peer.js';

/** One room: at most one broadcaster, any number of viewers. */
export class Room {
  readonly name: string;
  /** The mode asked for: the broadcaster's `mode=`, or the server's `--mode`. */
  configuredMode: Mode;
  /** The media path viewers of this room use now. */
  mode: Exclude<Mode, 'auto'> = 'p2p';
  /** Why the room is in its mode, for the broadcast page. */
  reason = 'peer to peer: the broadcaster sends to each viewer';
  /** The broadcaster publishes over WHIP: only the relay can serve its viewers. */
  whip = false;
  /** WHEP players watching through the relay (they have no signaling socket). */
  players = 0;
  /** The broadcaster's own password for this room's viewers, if it set one. Never sent out. */
  viewPassword: string | undefined;
  broadcaster: Peer | undefined;
  readonly viewers = new Map<string, Peer>();
  readonly createdAt = Date.now();
  #statusTimer: NodeJS.Timeout | undefined;

  constructor(name: string, configuredMode: Mode) {
    this.name = name;
    this.configuredMode = configuredMode;
  }

  get live(): boolean {
    return this.broadcaster !== undefined;
  }

  get empty(): boolean {
    return this.broadcaster === undefined && this.viewers.size === 0;
  }

  /** The peer of this room with this id, if any. */
  member(id: string): Peer | undefined {
    if (this.broadcaster?.id === id) return this.broadcaster;
    return this.viewers.get(id);
  }

  status(): RoomMessage {
    return { type: 'room', live: this.live, viewers: this.viewers.size, mode: this.mode, reason: this.reason };
  }

  /** Send to everyone in the room. */
  broadcast(msg: ServerMessage): void {
    this.broadcaster?.send(msg);
    for (const viewer of this.viewers.values()) viewer.send(msg);
  }

  /**
   * Tell everyone the room's status. A change of `live` goes out at once; viewer-count changes
   * are coalesced so a wave of joins costs one message per peer, not one per join.
   */
  announce(immediate: boolean): void {
    if (immediate) {
      clearTimeout(this.#statusTimer);
      this.#statusTimer = undefined;
      this.broadcast(this.status());
      return;
    }
    this.#statusTimer ??= setTimeout(() => {
      this.#statusTimer = undefined;
      this.broadcast(this.status());
    }, 200);
  }

  close(): void {
    clearTimeout(this.#statusTimer);
    this.#statusTimer = undefined;
  }
}
