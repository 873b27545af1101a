/**
 * werift's receiver statistics (StreamStatistics.add, once per received RTP packet) truncate the
 * arrival time with `Number.parseInt(n, 10)`, which prints the number to a string and parses it
 * back, and read `performance.timeOrigin` (a slow getter) for each packet's timestamp. The
 * replacement is werift's `add` line for line, with the truncation done by Math.trunc where that
 * is what parsing the printed number gives (numbers from 1 up to 1e21, printed without an
 * exponent) and werift's way otherwise, and the time origin, fixed for the thread's life, read
 * once. A packet the relay read earlier and hands on now (../ingress-gate.ts) sets `arrival`, so
 * that its jitter is reckoned from when it came, as werift's own receive would have.
 */
import { RTCRtpCodecParameters, RTCRtpReceiver, RtpHeader, RtpPacket } from 'werift';
import { replaceMethod, type PatchTarget, type WeriftPatch } from './patch.js';

interface Stats {
  base_seq?: number;
  max_seq?: number;
  cycles: number;
  packets_received: number;
  bytesReceived: number;
  headerBytesReceived: number;
  lastPacketReceivedTimestamp?: number;
  clockRate: number;
  jitter_q4: number;
  last_arrival?: number;
  last_timestamp?: number;
}
type Add = (this: Stats, packet: RtpPacket, now?: number) => void;

/** werift's `int` (`Number.parseInt(n, 10)`) of a number. */
export function truncate(n: number): number {
  return n >= 1 && n < 1e21 ? Math.trunc(n) : Number.parseInt(n as unknown as string, 10);
}

/** werift's `uint16Gt`: `a` is after `b` in 16-bit sequence space. */
function uint16Gt(a: number, b: number): boolean {
  return (a < b && b - a > 32768) || (a > b && a - b < 32768);
}

const timeOrigin = performance.timeOrigin;

/** When the packet being handed on arrived (seconds since the epoch), if not now. */
export const arrival: { seconds: number | undefined } = { seconds: undefined };

/**
 * werift does not export StreamStatistics: one made by a throwaway receiver for a throwaway
 * packet shows its prototype.
 */
function streamStatistics(): object {
  const receiver = new RTCRtpReceiver({ debug: {} } as never, 'video', 0) as unknown as {
    codecs: Record<number, unknown>;
    rtcpRunning: boolean;
    remoteStreams: Record<number, object>;
    handleRTP(packet: RtpPacket, extensions: object, track: undefined): void;
  };
  receiver.codecs[96] = new RTCRtpCodecParameters({ payloadType: 96, mimeType: 'video/VP8', clockRate: 90000 });
  receiver.rtcpRunning = true; // no RTCP loop for it
  receiver.handleRTP(new RtpPacket(new RtpHeader({ payloadType: 96, ssrc: 1 }), Buffer.alloc(0)), {}, undefined);
  return Object.getPrototypeOf(receiver.remoteStreams[1]) as object;
}

const add: PatchTarget = {
  name: 'StreamStatistics.prototype.add',
  owner: streamStatistics(),
  key: 'add',
  arity: 1,
  source: [
    /^add\(packet, now = Date\.now\(\) \/ 1e3\) \{\s*const inOrder = this\.max_seq == void 0 \|\| uint16Gt\(packet\.header\.sequenceNumber, this\.max_seq\);/,
    /this\.packets_received\+\+;\s*this\.bytesReceived \+= packet\.payload\.length;\s*this\.headerBytesReceived \+= packet\.header\.serializeSize;\s*this\.lastPacketReceivedTimestamp = getStatsTimestamp\(\);\s*if \(this\.base_seq == void 0\) \{\s*this\.base_seq = packet\.header\.sequenceNumber;\s*\}\s*if \(inOrder\) \{\s*const arrival = int\(now \* this\.clockRate\);/,
    /if \(this\.max_seq != void 0 && packet\.header\.sequenceNumber < this\.max_seq\) \{\s*this\.cycles \+= 1 << 16;\s*\}\s*this\.max_seq = packet\.header\.sequenceNumber;/,
    /if \(packet\.header\.timestamp !== this\.last_timestamp && this\.packets_received > 1\) \{\s*const diff = Math\.abs\(\s*arrival - \(this\.last_arrival \?\? 0\) - \(packet\.header\.timestamp - \(this\.last_timestamp \?\? 0\)\)\s*\);\s*this\.jitter_q4 \+= diff - \(this\.jitter_q4 \+ 8 >> 4\);\s*\}\s*this\.last_arrival = arrival;\s*this\.last_timestamp = packet\.header\.timestamp;\s*\}\s*\}$/,
  ],
};

export const leanReceiveStats: WeriftPatch = {
  name: 'lean-receive-stats',
  wrong: "werift's receiver statistics truncate each packet's arrival time by printing and parsing it, and read performance.timeOrigin per packet",
  upstream: 'docs/upstream/werift-receive-stats.md',
  targets: [add],
  apply() {
    replaceMethod<Add>(this.name, add, () =>
      function (this: Stats, packet, now = arrival.seconds ?? Date.now() / 1e3) {
        const h = packet.header;
        const inOrder = this.max_seq == undefined || uint16Gt(h.sequenceNumber, this.max_seq);
        this.packets_received++;
        this.bytesReceived += packet.payload.length;
        this.headerBytesReceived += h.serializeSize;
        this.lastPacketReceivedTimestamp = timeOrigin + performance.now();
        if (this.base_seq == undefined) this.base_seq = h.sequenceNumber;
        if (inOrder) {
          const arrival = truncate(now * this.clockRate);
          if (this.max_seq != undefined && h.sequenceNumber < this.max_seq) this.cycles += 1 << 16;
          this.max_seq = h.sequenceNumber;
          if (h.timestamp !== this.last_timestamp && this.packets_received > 1) {
            const diff = Math.abs(arrival - (this.last_arrival ?? 0) - (h.timestamp - (this.last_timestamp ?? 0)));
            this.jitter_q4 += diff - ((this.jitter_q4 + 8) >> 4);
          }
          this.last_arrival = arrival;
          this.last_timestamp = h.timestamp;
        }
      },
    );
  },
};
