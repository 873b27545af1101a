/**
 * Typed view of werift's receive statistics on a publisher's leg, for packets the relay drops
 * before werift sees them (../ingress-gate.ts). werift's receiver reports to the publisher, its
 * getStats and its NACK generators come from these. While packets are dropped they are tallied
 * here, per SSRC, with a few additions (werift's own per-packet update parses a float through a
 * string); when werift sees packets again the tally goes into its statistics, so its next
 * receiver report shows the packets as received, not thousands lost, and the NACK generators
 * start again from the next packet instead of NACKing the gap.
 */
import type { RTCPeerConnection } from 'werift';

/** werift's StreamStatistics (from aiortc), the fields the tally adds to. */
interface StreamStatistics {
  packets_received: number;
  bytesReceived: number;
  headerBytesReceived: number;
  max_seq: number | undefined;
  cycles: number;
  lastPacketReceivedTimestamp: number | undefined;
}

/** werift's NackHandler: 0 makes it take the next packet as its start. */
export interface NackHandler {
  newEstSeqNum: number;
  _lost: Record<number, number>;
}

interface WeriftReceiver {
  remoteStreams: Record<number, StreamStatistics | undefined>;
  /** werift's NackHandler, or lancast's one per SSRC (simulcast-receiver.ts). */
  nack: NackHandler | { restart(): void };
}

/** Makes a NACK generator take its next packet as its start: no loss is seen across a gap. */
export function restartNack(nack: NackHandler): void {
  nack.newEstSeqNum = 0;
  nack._lost = {};
}

/** 16-bit sequence `a` is after `b`. */
function after(a: number, b: number): boolean {
  return a !== b && ((a - b) & 0xffff) < 0x8000;
}

interface Tally {
  stream: StreamStatistics;
  received: number;
  bytes: number;
  headerBytes: number;
  maxSeq: number | undefined;
  cycles: number;
}

/** The packets of one gap, per SSRC, until werift's statistics take them. */
export class GapTally {
  readonly #receivers: WeriftReceiver[];
  /** Per SSRC werift has seen (undefined: one it has not, left to werift when it comes). */
  readonly #bySsrc = new Map<number, Tally | undefined>();

  constructor(pc: RTCPeerConnection) {
    this.#receivers = pc.getTransceivers().map((t) => t.receiver as unknown as WeriftReceiver);
  }

  /** One packet werift did not receive. */
  note(ssrc: number, seq: number, headerSize: number, payloadSize: number): void {
    let tally = this.#bySsrc.get(ssrc);
    if (tally === undefined) {
      if (this.#bySsrc.has(ssrc)) return;
      const stream = this.#receivers.map((r) => r.remoteStreams[ssrc]).find((s) => s !== undefined);
      tally = stream && { stream, received: 0, bytes: 0, headerBytes: 0, maxSeq: stream.max_seq, cycles: 0 };
      this.#bySsrc.set(ssrc, tally);
      if (!tally) return;
    }
    tally.received++;
    tally.bytes += payloadSize;
    tally.headerBytes += headerSize;
    // As werift counts: a newer sequence number below the highest wrapped around.
    if (tally.maxSeq === undefined || after(seq, tally.maxSeq)) {
      if (tally.maxSeq !== undefined && seq < tally.maxSeq) tally.cycles += 1 << 16;
      tally.maxSeq = seq;
    }
  }

  /** werift receives again: its statistics take the tally, its NACK generators start afresh. */
  apply(): void {
    const now = performance.timeOrigin + performance.now();
    for (const tally of this.#bySsrc.values()) {
      if (!tally || tally.received === 0) continue;
      const s = tally.stream;
      s.packets_received += tally.received;
      s.bytesReceived += tally.bytes;
      s.headerBytesReceived += tally.headerBytes;
      s.max_seq = tally.maxSeq;
      s.cycles += tally.cycles;
      s.lastPacketReceivedTimestamp = now;
    }
    this.#bySsrc.clear();
    for (const r of this.#receivers) {
      if ('restart' in r.nack) r.nack.restart();
      else restartNack(r.nack);
    }
  }
}
