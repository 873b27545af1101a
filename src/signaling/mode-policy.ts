/** Which media path a room should use now: p2p, or the relay. A pure function of the room's facts. */
import type { Mode } from './protocol.js';

export interface ModeFacts {
  /** The server has a relay at all. */
  relay: boolean;
  /** The broadcaster publishes over WHIP: only the relay can serve its viewers. */
  whip: boolean;
  /** The room is being recorded: the recorder needs its media at the server. */
  recorded: boolean;
  /** WHEP players watching or about to. */
  players: number;
  /** The broadcaster's `mode=`, or the server's `--mode`. */
  configured: Mode;
  viewers: number;
  /** The room's mode now. */
  current: Exclude<Mode, 'auto'>;
  /** `auto` rooms move to the relay when their viewers exceed this. */
  threshold: number;
}

/** `auto` moves up past the threshold and comes back down only when the room is empty. */
export function wantedMode(f: ModeFacts): { mode: Exclude<Mode, 'auto'>; reason: string } {
  if (!f.relay) return { mode: 'p2p', reason: 'peer to peer: this server has no relay' };
  if (f.whip) return { mode: 'relay', reason: 'relay: the broadcaster publishes over WHIP' };
  if (f.recorded) return { mode: 'relay', reason: 'relay: this room is being recorded' };
  if (f.players > 0 && f.configured !== 'p2p') return { mode: 'relay', reason: 'relay: WHEP players are watching' };
  if (f.configured === 'relay') return { mode: 'relay', reason: 'relay: chosen for this room' };
  if (f.configured === 'p2p') {
    return { mode: 'p2p', reason: f.players > 0 ? 'peer to peer: chosen for this room (WHEP cannot play it)' : 'peer to peer: chosen for this room' };
  }
  const { threshold } = f;
  if (f.viewers > threshold || (f.current === 'relay' && f.viewers > 0)) {
    return { mode: 'relay', reason: `relay: more than ${threshold} viewers` };
  }
  return { mode: 'p2p', reason: `peer to peer: ${threshold} viewers or fewer` };
}
