/**
 * A synthetic WHIP publisher for load runs: werift sends what a 720p30 VP8 encoder at exactly
 * 2.5 Mbit/s would put on the wire (30 frames a second, each 10,417 bytes in 9 RTP packets,
 * marker on the last; Opus-sized audio 50 times a second), with random payload. The relay does
 * not decode, so it cannot tell; the machine's cores stay free for the server, and the load is
 * the same every run (a real encoder's output wanders with content and congestion).
 *
 *   node --import tsx bench/relay/synthetic-publisher.ts <base-url> <room> <key>
 */
import { randomBytes } from 'node:crypto';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';

export const VIDEO_BITS_PER_SECOND = 2_500_000;
const FPS = 30;
const PACKETS_PER_FRAME = 9;
const FRAME_BYTES = Math.round(VIDEO_BITS_PER_SECOND / 8 / FPS);
const PAYLOAD = Math.ceil(FRAME_BYTES / PACKETS_PER_FRAME);

const [base, room, key] = process.argv.slice(2);

const pc = new RTCPeerConnection({
  codecs: {
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] })],
  },
  iceInterfaceAddresses: { udp4: '127.0.0.1' },
  iceAdditionalHostAddresses: ['127.0.0.1'],
  iceUseIpv6: false,
});
const audio = new MediaStreamTrack({ kind: 'audio' });
const video = new MediaStreamTrack({ kind: 'video' });
pc.addTransceiver(audio, { direction: 'sendonly' });
pc.addTransceiver(video, { direction: 'sendonly' });
await pc.setLocalDescription(await pc.createOffer());
await new Promise<void>((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve());
  setTimeout(resolve, 2_000);
});
const res = await fetch(`${base}/whip/${room}`, {
  method: 'POST',
  headers: { 'content-type': 'application/sdp', authorization: `Bearer ${key}` },
  body: pc.localDescription!.sdp,
});
process.stdout.write(`${JSON.stringify({ status: res.status })}\n`);
if (res.status !== 201) process.exit(1);
const location = res.headers.get('location')!;
await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });

// A pool of random payloads, reused: generating 2.5 Mbit/s of randomness would cost more CPU
// than sending it.
const pool = Array.from({ length: 64 }, () => randomBytes(PAYLOAD));
let videoSeq = 0;
let audioSeq = 0;
let frame = 0;
const start = performance.now();
const sendFrame = () => {
  const ts = (frame * (90_000 / FPS)) >>> 0;
  for (let i = 0; i < PACKETS_PER_FRAME; i++) {
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: videoSeq, timestamp: ts, marker: i === PACKETS_PER_FRAME - 1, ssrc: 1 });
    videoSeq = (videoSeq + 1) & 0xffff;
    video.writeRtp(new RtpPacket(header, pool[(frame * PACKETS_PER_FRAME + i) % pool.length]));
  }
  frame++;
};
const sendAudio = (n: number) => {
  const header = new RtpHeader({ payloadType: 111, sequenceNumber: audioSeq, timestamp: (n * 960) >>> 0, marker: false, ssrc: 2 });
  audioSeq = (audioSeq + 1) & 0xffff;
  audio.writeRtp(new RtpPacket(header, pool[n % pool.length].subarray(0, 120)));
};
let audioFrame = 0;
// Keep to the wall clock, not to timer drift.
setInterval(() => {
  const elapsed = performance.now() - start;
  while (frame < (elapsed / 1000) * FPS) sendFrame();
  while (audioFrame < (elapsed / 1000) * 50) sendAudio(audioFrame++);
}, 5);
process.on('SIGTERM', () => {
  void fetch(new URL(location, base), { method: 'DELETE' }).finally(() => process.exit(0));
});
