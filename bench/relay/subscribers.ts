/**
 * Light load generator: N headless WHEP viewers on werift. They do ICE, DTLS and SRTP like a
 * browser but never decode, so the machine's cores go to the server, not to the generator.
 * Prints one JSON line per second: packets received and lost (sequence gaps), per viewer summed.
 *
 *   node --import tsx bench/relay/subscribers.ts <base-url> <room> <count>
 */
import { RTCPeerConnection, RTCRtpCodecParameters, type RtpPacket } from 'werift';

const [base, room, countText] = process.argv.slice(2);
const count = Number(countText);

interface Stream {
  packets: number;
  lost: number;
  lastSeq: number | undefined;
}
const totals = { viewers: 0, failed: 0, streams: [] as Stream[] };
const locations: string[] = [];

function codecs() {
  return {
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    video: [
      new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] }),
      new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      }),
    ],
  };
}

async function viewer(): Promise<void> {
  const pc = new RTCPeerConnection({
    codecs: codecs(),
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
  });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.onTrack.subscribe((track) => {
    const s: Stream = { packets: 0, lost: 0, lastSeq: undefined };
    totals.streams.push(s);
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      const seq = rtp.header.sequenceNumber;
      if (s.lastSeq !== undefined) {
        const gap = (seq - s.lastSeq + 65536) % 65536;
        if (gap > 1 && gap < 1000) s.lost += gap - 1;
        if (gap >= 1 && gap < 1000) s.lastSeq = seq;
      } else s.lastSeq = seq;
      s.packets++;
    });
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
  totals.viewers++;
}

for (let i = 0; i < count; i++) {
  void viewer().catch(() => totals.failed++);
  await new Promise((r) => setTimeout(r, 20));
}
setInterval(() => {
  const packets = totals.streams.reduce((n, s) => n + s.packets, 0);
  const lost = totals.streams.reduce((n, s) => n + s.lost, 0);
  process.stdout.write(`${JSON.stringify({ viewers: totals.viewers, failed: totals.failed, packets, lost })}\n`);
}, 1_000);
process.on('SIGTERM', () => {
  void Promise.allSettled(locations.map((l) => fetch(new URL(l, base), { method: 'DELETE' }))).finally(() => process.exit(0));
});
