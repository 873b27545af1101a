/**
 * The publisher's last packets of one kind, kept (not copied) for the viewers: NACKed packets are
 * sent again from here, and a viewer who just connected gets the newest keyframe and the frames
 * since. Typed arrays, no allocation per packet: `put` runs for every packet the relay receives.
 */

/** Packets kept per kind: ~1.5 s of 2.5 Mbit/s video. */
export const HISTORY_SIZE = 512;

/** True when `seq` comes after `than` in 16-bit sequence space. */
export function newer(seq: number, than: number): boolean {
  return seq !== than && ((seq - than) & 0xffff) < 0x8000;
}

export interface HistoryPacket {
  seq: number;
  ts: number;
  marker: boolean;
  payload: Uint8Array;
}

export class PacketHistory {
  readonly #seq = new Int32Array(HISTORY_SIZE).fill(-1);
  readonly #ts = new Uint32Array(HISTORY_SIZE);
  readonly #marker = new Uint8Array(HISTORY_SIZE);
  readonly #payload: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(HISTORY_SIZE);
  /** The newest packet's sequence number (-1: none yet), RTP timestamp and arrival time (ms). */
  newestSeq = -1;
  newestTs = 0;
  newestAtMs = 0;

  /**
   * Keep a packet that arrived at `atMs`; true when it is the newest so far. A retransmission
   * arrives late and old: it is kept, but is not the newest.
   */
  put(seq: number, ts: number, marker: boolean, payload: Uint8Array, atMs: number): boolean {
    const i = seq % HISTORY_SIZE;
    this.#seq[i] = seq;
    this.#ts[i] = ts;
    this.#marker[i] = marker ? 1 : 0;
    this.#payload[i] = payload;
    if (this.newestSeq >= 0 && !newer(seq, this.newestSeq)) return false;
    this.newestSeq = seq;
    this.newestTs = ts;
    this.newestAtMs = atMs;
    return true;
  }

  /** The packet with this sequence number, if it is still here. */
  get(seq: number): HistoryPacket | undefined {
    const i = seq % HISTORY_SIZE;
    const payload = this.#payload[i];
    if (this.#seq[i] !== seq || !payload) return undefined;
    return { seq, ts: this.#ts[i], marker: this.#marker[i] === 1, payload };
  }

  /**
   * Call `send` for each packet held from `from` to the newest, in order, skipping the ones that
   * never arrived (the viewer will NACK them). Nothing when `from` is no longer held. Returns how
   * many `send` accepted.
   */
  replayFrom(from: number, send: (payload: Uint8Array, marker: boolean, seq: number, ts: number) => boolean): number {
    if (this.newestSeq < 0) return 0;
    const count = ((this.newestSeq - from) & 0xffff) + 1;
    if (count > HISTORY_SIZE || this.#seq[from % HISTORY_SIZE] !== from) return 0;
    let sent = 0;
    for (let n = 0; n < count; n++) {
      const seq = (from + n) & 0xffff;
      const i = seq % HISTORY_SIZE;
      const payload = this.#payload[i];
      if (this.#seq[i] !== seq || !payload) continue;
      if (send(payload, this.#marker[i] === 1, seq, this.#ts[i])) sent++;
    }
    return sent;
  }

  clear(): void {
    this.#seq.fill(-1);
    this.#payload.fill(undefined);
    this.newestSeq = -1;
  }
}
