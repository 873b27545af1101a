/**
 * A viewer's RTCP, read by the relay itself (issue 17). Each viewer sends receiver reports and
 * REMB several times a second; through Node's UDP callback, werift's ICE and DTLS demultiplexing,
 * its RTCP parser (which reads REMB through binary strings) and its router, each one cost about a
 * tenth of a millisecond of the main thread, a sixth of a 5-viewer room's CPU.
 *
 * Once a leg's SRTCP is native (rtcp-crypto.ts), Node stops reading the leg's ICE sockets and the
 * native module polls them on this thread's own loop (native/fanout.c `drainRtcp`): whenever
 * datagrams wait it reads them, opens each SRTCP packet and describes the reports and feedback in
 * it. From those records this file builds the packets werift's parser would have built and hands
 * them to the transport's onRtcp, as werift's own receive path does (werift/srtcp.ts checks it
 * still does): werift's router, the senders' NACK, PLI and report handling, and the relay's own
 * subscribers (the viewer's link estimate and liveness, the forwarder's NACK answers) see the same
 * packets as before. The viewer's consent checks on the selected pair are answered natively too
 * (native/fanout.c `stun_answer`; what each cost through werift: docs/performance.md), and the
 * relay's own checks sent from here (consent-checks.ts); other STUN, and DTLS, go to werift as its
 * socket would have given them.
 *
 * What differs from werift's parser: each packet of a compound ends at its own length (werift's
 * NACK and REMB read on to the end of the datagram), NACKed sequence numbers wrap at 2^16, and an
 * application-layer feedback message is REMB only when it says so. Sender descriptions, BYE, XR
 * and APP packets, which werift's router passes to nobody, are skipped. `LANCAST_NATIVE_READ=0`
 * leaves the reading to Node; `LANCAST_NATIVE_CONSENT=0` leaves every consent check, answered or
 * sent, to werift.
 *
 * Feedback that cannot wait (NACK, PLI, FIR; anything for werift) wakes JavaScript at once;
 * receiver reports and REMB wait in the native module until JavaScript comes anyway (the
 * publisher's batch, ingress-gate.ts, takes every leg's: flushRtcp) or a quarter of a second has
 * passed, so a small room's viewers do not wake the thread several times a second each. The
 * native module adds the wait to each report's DLSR: the round trip reckoned from it stays true.
 */
import {
  GenericNack,
  PictureLossIndication,
  ReceiverEstimatedMaxBitrate,
  RtcpHeader,
  RtcpPayloadSpecificFeedback,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  type RTCPeerConnection,
  type RtcpPacket,
} from 'werift';
import { relayCounters } from './forwarder.js';
import { checkConsentNatively } from './consent-checks.js';
import { native, takeSocket, watchSocket, type NativeModule } from './native.js';
import { connectedSrtcp, srtcpReceiveChanged, type LegSrtcp } from './werift/srtcp.js';

/** Numbers per record, and the kinds (native/fanout.c REC_*). */
const RECORD = 8;
const SR = 200;
const RR = 201;
const BLOCK = 1;
const NACK = 205;
const PLI = 3;
const FIR = 4;
const REMB = 5;

/**
 * werift's FIR message, which it parses but does not export: the class of what its parser makes of
 * an empty FIR (werift's router passes a FIR to its sender, which only tells onRtcp).
 */
type FirFeedback = RtcpPayloadSpecificFeedback['feedback'];
const FullIntraRequest = RtcpPayloadSpecificFeedback.deSerialize(Buffer.alloc(8), new RtcpHeader({ type: 206, count: 4 })).feedback.constructor as new (props: {
  senderSsrc: number;
  mediaSsrc: number;
  fir: { ssrc: number; sequenceNumber: number }[];
}) => FirFeedback;

/** The records one datagram can give at most (native/fanout.c: DRAIN_SLOT / 4 + 1): drainRtcp stops reading while it has less room. */
const PER_DATAGRAM = 513;
/** One thread's records: room for a few datagrams' worth. */
const records = new Float64Array(RECORD * 8 * PER_DATAGRAM);
/** Each leg socket's drain of what the native module queued (flushRtcp). */
const queued = new Set<() => void>();

/** Hand on every leg's RTCP that the native module read and kept (see the top of this file). */
export function flushRtcp(): void {
  if (!native || native.rtcpWaiting() === 0) return;
  for (const drainQueued of queued) drainQueued();
}

/**
 * Read the leg's RTCP natively from now on (its SRTCP must be native already). Returns how to stop
 * (Node reads the sockets again), or why it cannot: then Node and werift read them, as before.
 */
export function readRtcp(pc: RTCPeerConnection, env: NodeJS.ProcessEnv = process.env): (() => void) | string {
  const module = native;
  if (!module) return 'no native module';
  if (env.LANCAST_NATIVE_READ === '0') return 'LANCAST_NATIVE_READ=0';
  const changed = srtcpReceiveChanged();
  if (changed) return changed;
  const legs = connectedSrtcp(pc);
  if (legs.length === 0) return 'the leg is not connected';
  const releases: (() => void)[] = [];
  const stop = () => {
    for (const release of releases.splice(0)) release();
  };
  for (const leg of legs) {
    const srtcp = leg.native;
    const sockets = leg.sockets();
    const problem = !srtcp ? "werift protects this leg's RTCP" : typeof sockets === 'string' ? sockets : undefined;
    if (problem) {
      stop();
      return problem;
    }
    const native = env.LANCAST_NATIVE_CONSENT !== '0';
    let checking = false;
    const consent = native ? answerConsent(module, srtcp!, leg, () => checking) : () => undefined;
    consent();
    releases.push(() => module.consent(srtcp!, null));
    for (const { socket, receive } of sockets as Exclude<typeof sockets, string>) {
      const release = takeSocket(socket, (fd, release) => {
        const drainQueued = () => drain(module, srtcp!, fd, leg, receive, consent, true);
        queued.add(drainQueued);
        const stop = watchSocket(module, socket, fd, () => drain(module, srtcp!, fd, leg, receive, consent), release, srtcp);
        return () => {
          queued.delete(drainQueued);
          stop();
        };
      });
      if (!release) {
        stop();
        return 'a socket of the leg cannot be read outside Node';
      }
      releases.push(release);
    }
    if (native) {
      // Our own checks too, where werift's loop can be taken (consent-checks.ts); if not, werift sends them.
      const checks = checkConsentNatively(module, srtcp!, (restarted) => leg.takeConsentLoop(restarted), consent);
      if (typeof checks !== 'string') {
        checking = true;
        consent();
        releases.push(() => {
          checking = false;
          checks();
        });
      }
    }
  }
  return stop;
}

/**
 * Tells the native module how to answer the leg's consent checks, when its ICE agent has a pair
 * selected, and while `checking()` how to send our own; returns how to tell it again, which does so
 * only when the agent's credentials, role or selected far end changed (a pair selected after the
 * leg connected, an ICE restart). Until then, and for whatever the native module cannot vouch for,
 * werift answers, as it did before.
 */
function answerConsent(module: NativeModule, srtcp: object, leg: LegSrtcp, checking: () => boolean): () => void {
  let told = '';
  return () => {
    const c = leg.consent();
    if (typeof c === 'string') return;
    const checks = checking() && c.checks ? ([c.checks.username, c.checks.password, c.checks.tieBreaker, c.checks.priority] as const) : undefined;
    const key = [c.username, c.password, c.controlling, c.address, c.port, ...(checks ?? [])].join('\n');
    if (key === told) return;
    told = key;
    module.consent(srtcp, c.username, c.password, c.controlling, c.address, c.port, ...(checks ?? []));
  };
}

function drain(module: NativeModule, srtcp: object, fd: number, leg: LegSrtcp, receive: (data: Buffer, addr: [string, number]) => void, consent: () => void, queuedOnly = false): void {
  for (;;) {
    const out = module.drainRtcp(srtcp, fd, records, queuedOnly);
    const used = out[0] as number;
    const datagrams = out[1] as number;
    if (datagrams > 0) {
      relayCounters.rtcpReadNatively += datagrams;
      leg.received(datagrams, out[2] as number);
    }
    relayCounters.consentAnsweredNatively += out[4] as number;
    for (const packet of packets(used)) leg.deliver(packet);
    for (let i = 5; i < out.length; i += 3) receive(out[i] as Buffer, [out[i + 1] as string, out[i + 2] as number]);
    // Something for werift (perhaps a check the native module could not answer): has the agent changed?
    if (out.length > 5) consent();
    // With room for another datagram's records left, it stopped because the socket is empty.
    if ((used + PER_DATAGRAM) * RECORD <= records.length) return;
  }
}

/** The `used` records as the packets werift's parser makes of them. */
export function packets(used: number, r: Float64Array = records): RtcpPacket[] {
  const out: RtcpPacket[] = [];
  let i = 0;
  /** The `count` records after the current one, each read by `item` from its offset. */
  const items = <T>(count: number, item: (at: number) => T): T[] => {
    const list: T[] = [];
    for (let k = 0; k < count && i + RECORD < used * RECORD; k++) {
      i += RECORD;
      list.push(item(i));
    }
    return list;
  };
  const block = (at: number) =>
    r[at] === BLOCK
      ? new RtcpReceiverInfo({ ssrc: r[at + 1], fractionLost: r[at + 2], packetsLost: r[at + 3], highestSequence: r[at + 4], jitter: r[at + 5], lsr: r[at + 6], dlsr: r[at + 7] })
      : undefined;
  for (; i < used * RECORD; i += RECORD) {
    const kind = r[i];
    const [a, b, c, d, e, f, g] = [r[i + 1], r[i + 2], r[i + 3], r[i + 4], r[i + 5], r[i + 6], r[i + 7]];
    if (kind === SR || kind === RR) {
      const reports = items(g, block).filter((x): x is RtcpReceiverInfo => x !== undefined);
      if (kind === RR) out.push(new RtcpRrPacket({ ssrc: a, reports }));
      else {
        const senderInfo = new RtcpSenderInfo({ ntpTimestamp: (BigInt(b) << 32n) | BigInt(c), rtpTimestamp: d, packetCount: e, octetCount: f });
        out.push(new RtcpSrPacket({ ssrc: a, senderInfo, reports }));
      }
    } else if (kind === NACK) {
      const lost: number[] = [];
      for (const [pid, blp] of items(c, (at) => [r[at + 1], r[at + 2]])) {
        lost.push(pid);
        for (let bit = 0; bit < 16; bit++) if ((blp >> bit) & 1) lost.push((pid + bit + 1) & 0xffff);
      }
      out.push(new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: a, mediaSourceSsrc: b, lost }) }));
    } else if (kind === PLI) {
      out.push(new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: a, mediaSsrc: b }) }));
    } else if (kind === FIR) {
      const fir = items(c, (at) => ({ ssrc: r[at + 1], sequenceNumber: r[at + 2] }));
      out.push(new RtcpPayloadSpecificFeedback({ feedback: new FullIntraRequest({ senderSsrc: a, mediaSsrc: b, fir }) }));
    } else if (kind === REMB) {
      const ssrcFeedbacks = items(f, (at) => r[at + 1]);
      // werift's own reading: an exponent past 46 is "unlimited" (2^64 - 1).
      const bitrate = d > 46 ? 18446744073709551615n : BigInt(e) << BigInt(d);
      const feedback = new ReceiverEstimatedMaxBitrate({ senderSsrc: a, mediaSsrc: b, uniqueID: 'REMB', ssrcNum: c, brExp: d, brMantissa: e, ssrcFeedbacks, bitrate });
      out.push(new RtcpPayloadSpecificFeedback({ feedback }));
    }
    // A stray item or block (one whose packet was cut short) is skipped.
  }
  return out;
}
