import type { Mode, RoomMessage, ServerMessage } from './protocol.js';
import type { Peer } from './peer.js';

/** A WHEP player: it watches through the relay without a signaling socket. */
export interface Player {
  close(): void;
}

/** One room: at most one broadcaster, any number of viewers and WHEP players, counted here only. */
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
  /** WHEP players by their session id, watching through the relay or about to. */
  readonly players = new Map<string, Player>();
  /** The broadcaster's own password for this room's viewers, if it set one. Never sent out. */
  viewPassword: string | undefined;
  broadcaster: Peer | undefined;
  readonly viewers = new Map<string, Peer>();
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
