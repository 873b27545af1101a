/**
 * A WebRTC stack that is not ours: libwebrtc in Node (@roamhq/wrtc). A WHIP publisher that sends
 * generated video (a moving pattern) and a sine tone, and a WHEP player that counts decoded frames.
 */
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** What is used here of @roamhq/wrtc, which ships no types: the standard classes plus its sources and sink. */
interface Wrtc {
  RTCPeerConnection: typeof globalThis.RTCPeerConnection;
  MediaStream: typeof globalThis.MediaStream;
  nonstandard: {
    RTCVideoSource: new () => { createTrack(): MediaStreamTrack; onFrame(frame: { width: number; height: number; data: Uint8Array | Uint8ClampedArray }): void };
    RTCAudioSource: new () => {
      createTrack(): MediaStreamTrack;
      onData(data: { samples: Int16Array; sampleRate: number; bitsPerSample: number; channelCount: number; numberOfFrames: number }): void;
    };
    RTCVideoSink: new (track: MediaStreamTrack) => { onframe: ((event: { frame: { width: number; height: number } }) => void) | null; stop(): void };
  };
}
const wrtc = require('@roamhq/wrtc') as Wrtc;
const { RTCPeerConnection, nonstandard } = wrtc;

type Pc = RTCPeerConnection;

// libwebrtc's video source crashes in its static teardown when Node exits by running dry
// (a segfault after every test has passed). An explicit exit takes the path that does not crash.
process.once('beforeExit', (code) => process.exit(code));

function gathered(pc: Pc, timeoutMs = 3_000): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export interface HttpSession {
  pc: Pc;
  status: number;
  location: string | undefined;
  /** DELETE the resource and close the connection. */
  stop(): Promise<number | undefined>;
}

/** POST an offer; on 201 apply the answer (through `rewrite`, if given). Returns the status either way. */
async function exchange(
  pc: Pc,
  url: string,
  token: string | undefined,
  rewrite: (sdp: string) => string = (sdp) => sdp,
  rewriteOffer: (sdp: string) => string = (sdp) => sdp,
): Promise<{ status: number; location?: string; body: string }> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: rewriteOffer(pc.localDescription!.sdp),
  });
  const body = await res.text();
  if (res.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp: rewrite(body) });
  return { status: res.status, location: res.headers.get('location') ?? undefined, body };
}

function session(pc: Pc, base: string, status: number, location: string | undefined, extra: () => void): HttpSession {
  return {
    pc,
    status,
    location,
    async stop() {
      extra();
      let code: number | undefined;
      if (location) code = (await fetch(new URL(location, base), { method: 'DELETE' })).status;
      pc.close();
      return code;
    },
  };
}

export interface PublishOptions {
  width?: number;
  height?: number;
  /** Fill the lower half with fresh noise every frame: content the encoder cannot squeeze. */
  noise?: boolean;
  /** Which tracks to send (both unless told): a camera without a microphone sends video only. */
  audio?: boolean;
  video?: boolean;
  /** Send the video as three simulcast layers (rids lo, mid, hi: a quarter, half and full size; libwebrtc sends three from 960x540 up). */
  simulcast?: boolean;
}

/** A WHIP publisher: a moving pattern at 30 fps (640x480 unless told) and a 440 Hz tone (or one of them). */
export async function whipPublish(base: string, room: string, key: string | undefined, options: PublishOptions = {}): Promise<HttpSession & { body: string }> {
  const pc: Pc = new RTCPeerConnection({ iceServers: [] });
  const video = new nonstandard.RTCVideoSource();
  const audio = new nonstandard.RTCAudioSource();
  const stream = new wrtc.MediaStream();
  const vt = video.createTrack();
  const at = audio.createTrack();
  stream.addTrack(vt);
  stream.addTrack(at);
  if (options.audio !== false) pc.addTransceiver(at, { direction: 'sendonly', streams: [stream] });
  const sendEncodings = options.simulcast ? [{ rid: 'lo', scaleResolutionDownBy: 4 }, { rid: 'mid', scaleResolutionDownBy: 2 }, { rid: 'hi' }] : undefined;
  if (options.video !== false) pc.addTransceiver(vt, { direction: 'sendonly', streams: [stream], ...(sendEncodings ? { sendEncodings } : {}) });

  const width = options.width ?? 640;
  const height = options.height ?? 480;
  const frame = new Uint8ClampedArray((width * height * 3) / 2);
  let n = 0;
  const noiseStart = options.noise ? (height / 2) * width : width * height;
  const videoTimer = setInterval(() => {
    n++;
    for (let y = 0; y < height; y++) frame.fill((y + n * 4) & 0xff, y * width, (y + 1) * width);
    if (options.noise) randomFillSync(frame, noiseStart, width * height - noiseStart);
    video.onFrame({ width, height, data: frame });
  }, 33);
  const samples = new Int16Array(480);
  let t = 0;
  const audioTimer = setInterval(() => {
    for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * t++) / 48000));
    audio.onData({ samples, sampleRate: 48000, bitsPerSample: 16, channelCount: 1, numberOfFrames: samples.length });
  }, 10);

  const { status, location, body } = await exchange(pc, `${base}/whip/${room}`, key);
  const stopMedia = () => {
    clearInterval(videoTimer);
    clearInterval(audioTimer);
    vt.stop();
    at.stop();
  };
  if (status !== 201) stopMedia();
  return { ...session(pc, base, status, location, stopMedia), body };
}

export interface WhepPlayer extends HttpSession {
  body: string;
  /** Decoded video frames so far, and the last frame's size. */
  frames(): { count: number; width: number; height: number };
  audioBytes(): Promise<number>;
  /** RTP packets received so far, audio and video (inbound-rtp packetsReceived). */
  packetsReceived(): Promise<number>;
}

/**
 * A WHEP player: receives audio and video and decodes the video. With `frames: false` no frame is
 * copied out to JavaScript (the load benchmarks' viewers: libwebrtc still receives, decodes and
 * sends its RTCP as a browser does, and `frames()` stays at 0). `rewriteAnswer` changes the
 * server's answer before it is applied and `rewriteOffer` the offer before it is sent (e.g. their
 * candidates, to put a lossy path in between).
 */
export async function whepPlay(
  base: string,
  room: string,
  token?: string,
  options: { frames?: boolean; rewriteAnswer?: (sdp: string) => string; rewriteOffer?: (sdp: string) => string } = {},
): Promise<WhepPlayer> {
  const { rewriteAnswer, rewriteOffer } = options;
  const pc: Pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  const counted = { count: 0, width: 0, height: 0 };
  const sinks: { stop(): void }[] = [];
  pc.ontrack = (event: RTCTrackEvent) => {
    if (event.track.kind !== 'video' || options.frames === false) return;
    const sink = new nonstandard.RTCVideoSink(event.track);
    sink.onframe = ({ frame }: { frame: { width: number; height: number } }) => {
      counted.count++;
      counted.width = frame.width;
      counted.height = frame.height;
    };
    sinks.push(sink);
  };
  const { status, location, body } = await exchange(pc, `${base}/whep/${room}`, token, rewriteAnswer, rewriteOffer);
  return {
    ...session(pc, base, status, location, () => sinks.forEach((s) => s.stop())),
    body,
    frames: () => ({ ...counted }),
    async audioBytes() {
      let bytes = 0;
      (await pc.getStats()).forEach((s: { type: string; kind?: string; bytesReceived?: number }) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') bytes += s.bytesReceived ?? 0;
      });
      return bytes;
    },
    async packetsReceived() {
      let packets = 0;
      (await pc.getStats()).forEach((s: { type: string; packetsReceived?: number }) => {
        if (s.type === 'inbound-rtp') packets += s.packetsReceived ?? 0;
      });
      return packets;
    },
  };
}
