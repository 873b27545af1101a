/**
 * Light load generator: N headless WHEP viewers. werift does each viewer's ICE, DTLS and SRTP
 * keys like a browser would; after that, RTP is counted straight off the UDP socket (sequence gaps
 * per SSRC give the loss), and only every SAMPLE-th packet goes on to werift to be decrypted and
 * authenticated, so the generator's cores go to the server, not to decrypting and parsing every
 * packet; `verified` counts the sampled packets that decrypted and authenticated.
 * What the viewers send back (`--viewers browser|light`, browser by default):
 * - browser: what libwebrtc sends (browser-rtcp.ts): receiver reports with the sink's true counts,
 *   SDES and REMB about once a second, NACKs for the packets the sink finds missing, consent checks
 *   every 2.5 s on the relay's pair (werift's own loop stopped); video negotiated with nack, pli,
 *   fir and goog-remb as Chromium offers it;
 * - light (the generator before): werift's own receiver reports (built from the sampled packets
 *   only) and consent checks, no REMB, no NACK.
 * werift's own NACKs are off in both: seeing only the sampled packets, it would ask for the rest.
 *
 * Counting happens in one of two places (`--sink native|js`, native by default):
 * - native: the sockets are handed to a native thread (native/loadsink.c) that drains them with
 *   epoll and recvmmsg (reading only the headers of the packets it just counts), passes STUN,
 *   DTLS and the sampled RTP back to werift and drops the
 *   server's RTCP (werift's receiver reports do not need it); a few microseconds per packet, so
 *   the generator leaves most of the machine to the server;
 * - js: Node reads every packet and a JavaScript tap counts it (several times the cost).
 * Prints one JSON line per second: {at (ms since the epoch, when the counts were read), perViewer
 * (each connected viewer's RTP packets so far; native sink only), viewers, failed, packets, lost, verified, sampled, sink,
 * pending (not yet connected, by state), receiving (viewers whose RTP arrived in the last second),
 * truncated (non-RTP packets werift missed because only their first bytes were read; expected 0)}.
 *
 *   node --import tsx bench/relay/subscribers.ts <base-url> <room> <count> [--sink native|js] [--viewers browser|light]
 */
import type { Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { RTCPeerConnection, RTCRtpCodecParameters, type RtcpPacket } from 'werift';
// The viewers are DTLS clients (the relay answers their actpass offers passive). Like a browser's,
// their client must answer a repeated HelloVerifyRequest from a busy relay instead of failing, and
// their key exchange runs on OpenSSL, so the generator's CPU goes to the server's load.
import { installWeriftPatches } from '../../src/relay/werift/index.js';
import { BrowserRtcp, dispatchNacks, NACK_POLL_MS, ssrcsOf } from './browser-rtcp.js';

installWeriftPatches();

/** One RTP packet in SAMPLE is decrypted and authenticated by werift. */
const SAMPLE = 256;
const [base, room, countText] = process.argv.slice(2);
const count = Number(countText);
const sinkArg = process.argv.indexOf('--sink');
const sinkKind = sinkArg > 0 ? process.argv[sinkArg + 1] : 'native';
const viewersArg = process.argv.indexOf('--viewers');
const browserLike = (viewersArg > 0 ? process.argv[viewersArg + 1] : 'browser') === 'browser';
if (browserLike && sinkKind !== 'native') throw new Error('browser-like viewers (--viewers browser) need the native sink: their reports come from its counts');

interface LoadSink {
  create(onPacket: (route: number, data: Buffer, address: string, port: number) => void, sample: number): object;
  add(sink: object, fd: number, viewer: number, route: number): void;
  stats(sink: object): [packets: number, lost: number, octets: number, handed: number, streams: number, rtcp: number, receiving: number, truncated: number];
  streams(sink: object, viewer: number): number[];
  nacks(sink: object): number[];
}
const sinkFile = fileURLToPath(new URL('../../dist/native/loadsink.node', import.meta.url));
if (sinkKind === 'native' && !existsSync(sinkFile)) throw new Error(`${sinkFile} is missing: run npm run build (needs a C compiler), or pass --sink js`);
const native = sinkKind === 'native' ? (createRequire(import.meta.url)(sinkFile) as LoadSink) : undefined;
type UdpLike = { socket: Socket; onData: (data: Buffer, addr: [string, number]) => void };
/** werift's receive function of each socket handed to the native sink, by route number. */
const routes: ((data: Buffer, addr: [string, number]) => void)[] = [];
const nativeSink = native?.create((route, data, address, port) => routes[route]?.(data, [address, port]), SAMPLE);

interface Stream {
  packets: number;
  lost: number;
  lastSeq: number;
}
const totals = { viewers: 0, failed: 0, verified: 0 };
/** Viewers not connected yet, by where they are: "ice:checking", "dtls:connecting", ... */
const pending = new Map<number, string>();
const streams = new Map<string, Stream>();
const locations: string[] = [];
let sampled = 0;
let sampledToWerift = 0;
/** Viewers connected and counted, by id. */
const connected = new Set<number>();
/** Browser-like viewers' RTCP, by viewer id. */
const rtcp = new Map<number, BrowserRtcp>();

function codecs() {
  const rtcpFeedback = browserLike
    ? [{ type: 'goog-remb' }, { type: 'ccm', parameter: 'fir' }, { type: 'nack' }, { type: 'nack', parameter: 'pli' }]
    : [{ type: 'nack', parameter: 'pli' }];
  return {
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    video: [
      new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback }),
      new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        rtcpFeedback,
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      }),
    ],
  };
}

interface IceInternals {
  iceTransport: {
    connection: {
      nominated?: { protocol?: { transport?: { socket?: Socket; onData: (data: Buffer, addr: [string, number]) => void } } };
    };
  };
}

/** The nominated pair's UDP transport of a connected werift peer connection. */
function nominated(pc: RTCPeerConnection) {
  const dtls = pc.getTransceivers()[0]?.receiver.dtlsTransport as unknown as IceInternals | undefined;
  const transport = dtls?.iceTransport.connection.nominated?.protocol?.transport;
  if (!transport?.socket) throw new Error('no nominated UDP pair');
  return transport as UdpLike;
}

/** A werift StunProtocol: one local socket's STUN transactions. */
interface StunSide {
  request(message: unknown, addr: [string, number], password: Buffer, options: { retransmissions: number; responseTimeout: number }): Promise<unknown>;
}

/** werift's ICE agent (Connection), the parts the consent checks take. */
interface ConsentAgent {
  nominated?: { remoteAddr: [string, number]; localCandidate?: unknown; protocol: StunSide };
  buildRequest(options: { nominate: boolean; remoteUsername: string; localUsername: string; iceControlling: boolean; localCandidate?: unknown }): unknown;
  stopConsentLifecycle(): void;
  queryConsent: () => void;
  consentFresh: boolean;
  remoteUsername: string;
  localUsername: string;
  remotePassword: string;
  iceControlling: boolean;
}

/**
 * The viewer's consent checks (RFC 7675), sent as libwebrtc sends them: on the pair the relay
 * selected. werift's own loop (every 4-6 s) is stopped: on loopback werift nominates every pair
 * that succeeds, the relay keeps the last one nominated and werift checks the first, so its checks
 * reached the relay from an address it does not send to. `mediaSide` is the socket the relay's
 * packets arrive on (the viewer's end of the relay's pair), once known. Returns one check.
 */
function consentChecks(pc: RTCPeerConnection, mediaSide: () => StunSide | undefined): () => void {
  const agent = (pc.getTransceivers()[0].receiver.dtlsTransport as unknown as { iceTransport: { connection: ConsentAgent } }).iceTransport.connection;
  if (typeof agent.buildRequest !== 'function' || typeof agent.stopConsentLifecycle !== 'function') throw new Error("werift's ICE agent lacks buildRequest or stopConsentLifecycle");
  agent.stopConsentLifecycle();
  agent.consentFresh = true;
  agent.queryConsent = () => undefined; // werift starts its loop again on a new selection: not here
  return () => {
    const pair = agent.nominated;
    if (!pair) return;
    const { localUsername, remoteUsername, iceControlling, remotePassword } = agent;
    const request = agent.buildRequest({ nominate: false, localUsername, remoteUsername, iceControlling, localCandidate: pair.localCandidate });
    (mediaSide() ?? pair.protocol).request(request, pair.remoteAddr, Buffer.from(remotePassword, 'utf8'), { retransmissions: 0, responseTimeout: 5_000 }).catch(() => undefined);
  };
}

/** Per viewer, the werift StunProtocol of the socket the relay's media last arrived on. */
const mediaSides = new Map<number, StunSide>();

/** Node's handle under a dgram socket: its fd, and recvStop() to stop Node reading it. */
function handleOf(socket: Socket): { fd: number; recvStop(): number } {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const handle = state ? (socket as unknown as Record<symbol, { handle?: { fd: number; recvStop(): number } }>)[state]?.handle : undefined;
  if (!handle || handle.fd < 0) throw new Error('no file descriptor under the socket');
  return handle;
}

/**
 * Hand the viewer's sockets to the native sink: it counts RTP and gives werift the rest. All of
 * them, not just the nominated pair's: a viewer has one socket per local candidate, and the
 * server may send on a pair other than the one this side nominated.
 */
function tapNative(pc: RTCPeerConnection, id: number): void {
  nominated(pc); // connected over UDP
  const dtls = pc.getTransceivers()[0].receiver.dtlsTransport as unknown as { iceTransport: { connection: { protocols: { transport?: UdpLike }[] } } };
  for (const protocol of dtls.iceTransport.connection.protocols) {
    const transport = protocol.transport;
    if (!transport?.socket) continue;
    const handle = handleOf(transport.socket);
    const onData = transport.onData.bind(transport);
    const route = routes.push((data, addr) => {
      if ((data[0] & 0xc0) === 0x80 && !((data[1] & 0x7f) >= 64 && (data[1] & 0x7f) <= 95)) {
        sampled++;
        mediaSides.set(id, protocol as unknown as StunSide);
      }
      onData(data, addr);
    }) - 1;
    handle.recvStop();
    native!.add(nativeSink!, handle.fd, id, route);
  }
}

/** Count RTP at the socket in JavaScript; pass STUN, DTLS, RTCP and every SAMPLE-th RTP packet to werift. */
function tapJs(pc: RTCPeerConnection, id: number): void {
  const transport = nominated(pc);
  transport.socket.setRecvBufferSize(4 << 20);
  const original = transport.onData;
  transport.onData = (data, addr) => {
    const pt = data.length >= 12 ? data[1] & 0x7f : 0;
    if ((data[0] & 0xc0) !== 0x80 || (pt >= 64 && pt <= 95)) return original(data, addr); // not RTP
    const key = `${id}:${data.readUInt32BE(8)}`;
    const seq = data.readUInt16BE(2);
    const s = streams.get(key);
    if (!s) streams.set(key, { packets: 1, lost: 0, lastSeq: seq });
    else {
      const gap = (seq - s.lastSeq) & 0xffff;
      if (gap > 1 && gap < 1000) s.lost += gap - 1;
      if (gap >= 1 && gap < 1000) s.lastSeq = seq;
      s.packets++;
    }
    if (++sampled % SAMPLE === 0) {
      sampledToWerift++;
      original(data, addr);
    }
  };
}

async function viewer(id: number): Promise<void> {
  const pc = new RTCPeerConnection({
    codecs: codecs(),
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
  });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const video = pc.addTransceiver('video', { direction: 'recvonly' });
  // werift would NACK what it never saw (the packets not sampled): no NACKs from werift on these
  // viewers (browser-like ones NACK from the sink's counts). lancast's handleRTP (werift/
  // lean-rtp-receive.ts, installed above) reads the codecs rather than the nackEnabled getter, so
  // the NACK generator itself is what is turned off: with only the getter, each viewer NACKed
  // the ~255 packets between two sampled ones, every 5 ms.
  Object.defineProperty(video.receiver, 'nackEnabled', { get: () => undefined });
  (video.receiver as unknown as { nack: { addPacket(packet: unknown): void } }).nack.addPacket = () => undefined;
  // Browser-like viewers report from the sink's counts; werift's loop (runRtcp) would report on
  // the sampled packets only. It does not start while it believes it runs.
  if (browserLike) for (const t of pc.getTransceivers()) (t.receiver as unknown as { rtcpRunning: boolean }).rtcpRunning = true;
  const ssrcs = new Map<number, 'audio' | 'video'>();
  pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => totals.verified++));
  const where = () => `ice:${pc.iceConnectionState}/${pc.connectionState}`;
  pending.set(id, 'offering');
  pc.iceConnectionStateChange.subscribe(() => pending.has(id) && pending.set(id, where()));
  pc.connectionStateChange.subscribe((state) => {
    if (pending.has(id)) pending.set(id, where());
    if (state === 'connected') {
      pending.delete(id);
      try {
        (native ? tapNative : tapJs)(pc, id);
        totals.viewers++;
        connected.add(id);
        if (browserLike) {
          const viewer = { ssrcs, send: (packets: RtcpPacket[]) => video.receiver.dtlsTransport.sendRtcp(packets), check: consentChecks(pc, () => mediaSides.get(id)) };
          rtcp.set(id, new BrowserRtcp(id, viewer, (v) => native!.streams(nativeSink!, v)));
        }
      } catch {
        totals.failed++;
      }
    }
  });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.iceGatheringStateChange.subscribe((st) => st === 'complete' && resolve());
    setTimeout(resolve, 2_000);
  });
  pending.set(id, 'waiting for the answer');
  const res = await fetch(`${base}/whep/${room}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription!.sdp });
  if (res.status !== 201) {
    pending.delete(id);
    totals.failed++;
    return;
  }
  pending.set(id, where());
  locations.push(res.headers.get('location')!);
  const answer = await res.text();
  for (const [ssrc, kind] of ssrcsOf(answer)) ssrcs.set(ssrc, kind);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
}

/** Compound reports, NACKs and consent checks the browser-like viewers have sent. */
function rtcpSent(): { reports: number; nacks: number; checks: number } {
  const sum = { reports: 0, nacks: 0, checks: 0 };
  for (const r of rtcp.values()) {
    sum.reports += r.sent.reports;
    sum.nacks += r.sent.nacks;
    sum.checks += r.sent.checks;
  }
  return sum;
}

for (let i = 0; i < count; i++) {
  void viewer(i).catch(() => totals.failed++);
  await new Promise((r) => setTimeout(r, 20));
}
if (browserLike) setInterval(() => dispatchNacks(native!.nacks(nativeSink!), rtcp), NACK_POLL_MS);
setInterval(() => {
  let packets = 0;
  let lost = 0;
  let receiving = -1; // not known in the JavaScript sink
  let truncated = 0;
  if (native) [packets, lost, , , , , receiving, truncated] = native.stats(nativeSink!);
  else {
    for (const s of streams.values()) {
      packets += s.packets;
      lost += s.lost;
    }
  }
  const waiting: Record<string, number> = {};
  for (const state of pending.values()) waiting[state] = (waiting[state] ?? 0) + 1;
  // RTP packets each connected viewer received so far (the native sink's per-stream counts).
  const perViewer = native ? [...connected].map((id) => native.streams(nativeSink!, id).reduce((sum, v, i) => (i % 4 === 1 ? sum + v : sum), 0)) : [];
  const report = { at: Date.now(), perViewer, viewers: totals.viewers, failed: totals.failed, packets, lost, verified: totals.verified, sampled: native ? sampled : sampledToWerift, sink: sinkKind, pending: waiting, receiving, truncated, viewersKind: browserLike ? 'browser' : 'light', rtcpSent: rtcpSent() };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}, 1_000);
process.on('SIGTERM', () => {
  void Promise.allSettled(locations.map((l) => fetch(new URL(l, base), { method: 'DELETE' }))).finally(() => process.exit(0));
});
