/**
 * Records what a real publisher sends the relay, for the recorder's unit tests: Chromium (fake
 * camera and microphone) publishes to the relay's own Publisher leg in this process; every RTP
 * packet (the publisher's `onPacket` tap, as the recorder sees it) and every sender report is
 * written, with its arrival time, to a gzipped JSON-lines file. Halfway through, the camera is
 * asked for a smaller size, so the capture holds a resolution change.
 *
 *   node --import tsx scripts/capture-rtp.ts vp8|h264 SECONDS OUT.jsonl.gz
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { RtcpSrPacket } from 'werift';
import { Publisher } from '../src/relay/publisher.js';
import { installWeriftPatches } from '../src/relay/werift/index.js';
import { launchChromium } from '../test/helpers/browser.js';

const [codec = 'vp8', secondsArg = '4', out = `test/fixtures/rtp-${codec}.jsonl.gz`] = process.argv.slice(2);
const seconds = Number(secondsArg);

const lines: string[] = [];
const start = performance.now();
const at = () => Math.round((performance.now() - start) * 10) / 10;

installWeriftPatches(); // werift as the relay runs it
const publisher = new Publisher({ host: '127.0.0.1', iceServers: [] }, () => undefined);
publisher.onPacket = (kind, seq, ts, marker, payload) => {
  lines.push(JSON.stringify({ t: at(), k: kind, seq, ts, m: marker ? 1 : 0, p: Buffer.from(payload).toString('base64') }));
};
publisher.pc.onTransceiverAdded.subscribe((transceiver) => {
  transceiver.onTrack.subscribe((track) => {
    track.onReceiveRtcp.subscribe((packet) => {
      if (!(packet instanceof RtcpSrPacket)) return;
      const info = packet.senderInfo;
      lines.push(JSON.stringify({ t: at(), k: track.kind, sr: { ntp: info.ntpTimestamp.toString(), rtp: info.rtpTimestamp } }));
    });
  });
});

// getUserMedia needs a secure context: a page from 127.0.0.1 is one.
const server = http.createServer((_req, res) => res.end('<!doctype html><title>capture</title>'));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
const browser = await launchChromium();
const page = await browser.newPage();
await page.goto(`http://127.0.0.1:${port}/`);
const offer = await page.evaluate(async (want: string) => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  const pc = new RTCPeerConnection();
  (window as unknown as { pc: RTCPeerConnection; stream: MediaStream }).pc = pc;
  (window as unknown as { stream: MediaStream }).stream = stream;
  for (const track of stream.getTracks()) {
    const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    if (track.kind === 'video') {
      const codecs = RTCRtpSender.getCapabilities('video')!.codecs;
      t.setCodecPreferences([...codecs.filter((c) => c.mimeType.toLowerCase() === `video/${want}`), ...codecs.filter((c) => c.mimeType.toLowerCase() !== `video/${want}`)]);
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  });
  return pc.localDescription!.sdp;
}, codec);
const answer = await publisher.answer(offer);
await page.evaluate((sdp: string) => (window as unknown as { pc: RTCPeerConnection }).pc.setRemoteDescription({ type: 'answer', sdp }), answer);
if (!(await publisher.whenReady(10_000))) throw new Error('no media from Chromium');
lines.length = 0; // start from a clean point in time, as a recording would: mid-stream
// ... and ask for a keyframe shortly after, as the recorder does.
setTimeout(() => publisher.requestKeyframe(), 200);
console.log('capturing', codec, publisher.codecs.video?.mimeType, 'for', seconds, 's');
await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
await page.evaluate(() => (window as unknown as { stream: MediaStream }).stream.getVideoTracks()[0].applyConstraints({ width: 320, height: 240 }));
await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
const header = JSON.stringify({ codecs: { audio: publisher.codecs.audio?.mimeType, video: publisher.codecs.video?.mimeType } });
writeFileSync(out, gzipSync([header, ...lines].join('\n') + '\n'));
console.log('wrote', out, lines.length, 'records');
await browser.close();
publisher.close();
server.close();
process.exit(0);
