/**
 * Light load generator: N headless WHEP viewers. werift does each viewer's ICE, DTLS and SRTP
 * keys like a browser would; after that, RTP is counted straight off the UDP socket (sequence gaps
 * per SSRC give the loss), and only every SAMPLE-th packet goes on to werift to be decrypted and
 * authenticated, so the generator's cores go to the server, not to decrypting and parsing every
 * packet; `verified` counts the sampled packets that decrypted and authenticated.
 * The viewers send no NACK: they see every packet, but werift, seeing only the sampled ones,
 * would otherwise ask for the rest again.
 * Prints one JSON line per second: {viewers, failed, packets, lost, verified, sampled}.
 *
 *   node --import tsx bench/relay/subscribers.ts <base-url> <room> <count>
 */
import type { Socket } from 'node:dgram';
import { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';

const SAMPLE = 64;
const [base, room, countText] = process.argv.slice(2);
const count = Number(countText);

interface Stream {
  packets: number;
  lost: number;
  lastSeq: number;
}
const totals = { viewers: 0, failed: 0, verified: 0 };
const streams = new Map<string, Stream>();
const locations: string[] = [];
let sampled = 0;

function codecs() {
  return {
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    video: [
      new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }),
      new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        rtcpFeedback: [{ type: 'nack', parameter: 'pli' }],
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

/** Count RTP at the socket; pass STUN, DTLS, RTCP and every SAMPLE-th RTP packet to werift. */
function tap(pc: RTCPeerConnection, id: number): void {
  const dtls = pc.getTransceivers()[0]?.receiver.dtlsTransport as unknown as IceInternals | undefined;
  const transport = dtls?.iceTransport.connection.nominated?.protocol?.transport;
  if (!transport?.socket) throw new Error('no nominated UDP pair');
  transport.socket.setRecvBufferSize(4 << 20);
  const original = transport.onData;
  transport.onData = (data, addr) => {
    const pt = data.length >= 12 ? data[1]! & 0x7f : 0;
    if ((data[0]! & 0xc0) !== 0x80 || (pt >= 64 && pt <= 95)) return original(data, addr); // not RTP
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
    if (++sampled % SAMPLE === 0) original(data, addr);
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
  // werift would NACK what it never saw (the packets not sampled): no NACKs from these viewers.
  Object.defineProperty(video.receiver, 'nackEnabled', { get: () => undefined });
  pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => totals.verified++));
  pc.connectionStateChange.subscribe((state) => {
    if (state === 'connected') {
      try {
        tap(pc, id);
        totals.viewers++;
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
  const res = await fetch(`${base}/whep/${room}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription!.sdp });
  if (res.status !== 201) {
    totals.failed++;
    return;
  }
  locations.push(res.headers.get('location')!);
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
}

for (let i = 0; i < count; i++) {
  void viewer(i).catch(() => totals.failed++);
  await new Promise((r) => setTimeout(r, 20));
}
setInterval(() => {
  let packets = 0;
  let lost = 0;
  for (const s of streams.values()) {
    packets += s.packets;
    lost += s.lost;
  }
  process.stdout.write(`${JSON.stringify({ viewers: totals.viewers, failed: totals.failed, packets, lost, verified: totals.verified, sampled: Math.floor(sampled / SAMPLE) })}\n`);
}, 1_000);
process.on('SIGTERM', () => {
  void Promise.allSettled(locations.map((l) => fetch(new URL(l, base), { method: 'DELETE' }))).finally(() => process.exit(0));
});
