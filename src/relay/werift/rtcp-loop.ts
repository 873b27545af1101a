/**
 * A werift receiver (each of a publisher leg's: audio, video, each simulcast layer) sends its
 * receiver reports from an async loop, `runRtcp`: each turn awaits timers/promises' `setTimeout`
 * with an AbortSignal (an abort listener added and removed per turn), then awaits
 * `dtlsTransport.sendRtcp`, a chain of promises down to Node's dgram, which looks the address up
 * again for each datagram. In a small room that was a fifth of the main thread's timer work.
 *
 * The replacement keeps werift's pace (each report 0.5-1.5 s after the last, RFC 3550 6.3.1's
 * randomisation, each at most 0.4 s late) and builds the same report from the same
 * fields (each remote stream's loss, highest sequence and jitter, and LSR/DLSR from the last
 * sender report), on the thread's batched timers (../batched-timers.ts), and
 * sends it natively where the leg's SRTCP is native (sender.ts `sendRtcpNatively`), else through
 * werift's `sendRtcp`. werift's `stop()` ends it as it ends werift's loop (`rtcpRunning`, `rtcpCancel`).
 */
import { RTCRtpReceiver, RtcpReceiverInfo, RtcpRrPacket, timestampSeconds } from 'werift';
import { every } from '../batched-timers.js';
import { replaceMethod, type PatchTarget, type WeriftPatch } from './patch.js';
import { sendRtcpNatively } from './sender.js';

interface Stream {
  fraction_lost: number;
  packets_lost: number;
  max_seq: number;
  jitter: number;
}
interface Receiver {
  stopped: boolean;
  rtcpRunning: boolean;
  rtcpCancel: AbortController;
  rtcpSsrc: number;
  remoteStreams: Record<string, Stream>;
  lastSRtimestamp: Record<string, number>;
  receiveLastSRTimestamp: Record<string, number>;
  dtlsTransport: { sendRtcp(packets: RtcpRrPacket[]): Promise<unknown> };
}

const runRtcp: PatchTarget = {
  name: 'RTCRtpReceiver.prototype.runRtcp',
  owner: RTCRtpReceiver.prototype,
  key: 'runRtcp',
  arity: 0,
  // What the replacement repeats, in werift's order.
  source: [
    /^async runRtcp\(\) \{\s*if \(this\.rtcpRunning \|\| this\.stopped\) return;\s*this\.rtcpRunning = true;/,
    /while \(this\.rtcpRunning\) \{\s*await setTimeout\d*\(500 \+ Math\.random\(\) \* 1e3, void 0, \{\s*signal: this\.rtcpCancel\.signal\s*\}\);/,
    /const reports = Object\.entries\(this\.remoteStreams\)\.map\(/,
    /if \(this\.lastSRtimestamp\[ssrc\]\) \{\s*lastSRtimestamp = this\.lastSRtimestamp\[ssrc\];\s*const delaySeconds = timestampSeconds\(\) - this\.receiveLastSRTimestamp\[ssrc\];\s*if \(delaySeconds > 0 && delaySeconds < 65536\) \{\s*delaySinceLastSR = int\(delaySeconds \* 65536\);/,
    /ssrc: Number\(ssrc\),\s*fractionLost: stream\.fraction_lost,\s*packetsLost: stream\.packets_lost,\s*highestSequence: stream\.max_seq,\s*jitter: stream\.jitter,\s*lsr: lastSRtimestamp,\s*dlsr: delaySinceLastSR/,
    /const packet = new RtcpRrPacket\(\{ ssrc: this\.rtcpSsrc, reports \}\);/,
    /await this\.dtlsTransport\.sendRtcp\(\[packet\]\);/,
  ],
};

/** werift's next report, 0.5-1.5 s on. */
const reportDelayMs = () => 500 + Math.random() * 1000;

/** The receiver report werift's loop would send now. */
function receiverReport(receiver: Receiver): RtcpRrPacket {
  const reports = Object.entries(receiver.remoteStreams).map(([ssrc, stream]) => {
    let lsr = 0;
    let dlsr = 0;
    if (receiver.lastSRtimestamp[ssrc]) {
      lsr = receiver.lastSRtimestamp[ssrc];
      const delaySeconds = timestampSeconds() - receiver.receiveLastSRTimestamp[ssrc];
      if (delaySeconds > 0 && delaySeconds < 65536) dlsr = Math.trunc(delaySeconds * 65536);
    }
    return new RtcpReceiverInfo({ ssrc: Number(ssrc), fractionLost: stream.fraction_lost, packetsLost: stream.packets_lost, highestSequence: stream.max_seq, jitter: stream.jitter, lsr, dlsr });
  });
  return new RtcpRrPacket({ ssrc: receiver.rtcpSsrc, reports });
}

export const rtcpLoop: WeriftPatch = {
  name: 'rtcp-loop',
  wrong: "werift's receivers send their receiver reports from an async loop that adds and removes an abort listener and goes through a chain of promises and Node's dgram for every report",
  upstream: 'docs/upstream/werift-rtcp-loop.md',
  targets: [runRtcp],
  apply() {
    replaceMethod<(this: Receiver) => Promise<void>>(this.name, runRtcp, () =>
      function (this: Receiver) {
        if (this.rtcpRunning || this.stopped) return Promise.resolve();
        this.rtcpRunning = true;
        const job = every(reportDelayMs, () => {
          if (!this.rtcpRunning) {
            job.stop();
            return;
          }
          const packet = receiverReport(this);
          if (!sendRtcpNatively(this.dtlsTransport, [packet])) this.dtlsTransport.sendRtcp([packet]).catch(() => undefined);
        });
        // werift's stop() aborts rtcpCancel (and clears rtcpRunning).
        this.rtcpCancel.signal.addEventListener('abort', () => job.stop(), { once: true });
        return Promise.resolve();
      },
    );
  },
};
