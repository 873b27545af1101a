/**
 * werift's RTCRtpReceiver.handleRTP, run for every received RTP packet, recomputes per packet what
 * only changes with the SDP: it splits the codec's MIME type twice (`codec.name`, then lower-cased
 * to look for RTX and RED), sorts the receiver's codecs into a new array to learn whether NACK is
 * on (`nackEnabled`, `codecArray`), and calls the async `runRtcp` (a promise) to find the RTCP loop
 * already running. The replacement takes werift's own path for anything but an ordinary packet
 * (no codec, RTX, RED, the first packet of an SSRC) and otherwise does the same steps in the same
 * order with the same results: the codec kind is looked up by MIME type, the first codec is the
 * one of lowest payload type found without sorting (sorting is stable: the first such in the
 * object's order, as here) and kept until the codecs change (werift changes them in
 * prepareReceive only, which the install check holds it to), and `runRtcp` is called when it
 * would start the loop.
 */
import { RTCRtpCodecParameters, RTCRtpReceiver, RTP_EXTENSION_URI, type RtpPacket } from 'werift';
import { replaceMethod, type PatchTarget, type WeriftPatch } from './patch.js';

interface Feedback {
  type: string;
}
interface Codec {
  payloadType: number;
  mimeType: string;
  name?: string;
  rtcpFeedback: Feedback[];
}
export interface Track {
  kind: string;
  onReceiveRtp: { execute(packet: RtpPacket, extensions: Record<string, unknown>): void };
}
export interface Receiver {
  stopped: boolean;
  codecs: Record<number, Codec>;
  codecArray: Codec[];
  remoteStreams: Record<number, { add(packet: RtpPacket): void } | undefined>;
  receiverTWCC?: { handleTWCC(transportSequenceNumber: unknown): void };
  setupTWCC(ssrc: number): void;
  nack: { addPacket(packet: RtpPacket): void };
  rtcpRunning: boolean;
  runRtcp(): Promise<void>;
}
type HandleRtp = (this: Receiver, packet: RtpPacket, extensions: Record<string, unknown>, track: Track | undefined) => void;

/** Whether a codec of this MIME type is neither RTX nor RED, by MIME type (a handful per server). */
const ordinaryByMime = new Map<string, boolean>();
const MIME_TYPES_KEPT = 64;

/** werift's `codec.name.toLowerCase()` is neither "rtx" nor "red"; false also when it would throw. */
export function ordinaryCodec(codec: Codec): boolean {
  // `name` derives from the MIME type only on werift's own codec objects.
  const derived = Object.getPrototypeOf(codec) === RTCRtpCodecParameters.prototype && !Object.hasOwn(codec, 'name');
  const mime = codec.mimeType;
  let ordinary = derived ? ordinaryByMime.get(mime) : undefined;
  if (ordinary === undefined) {
    const name = typeof mime === 'string' ? codec.name : undefined;
    ordinary = typeof name === 'string' && name.toLowerCase() !== 'rtx' && name.toLowerCase() !== 'red';
    if (derived && typeof mime === 'string') {
      if (ordinaryByMime.size >= MIME_TYPES_KEPT) ordinaryByMime.clear();
      ordinaryByMime.set(mime, ordinary);
    }
  }
  return ordinary;
}

/** Each receiver's first codec, for the codecs object it was found in (prepareReceive forgets it). */
const firstCodecs = new WeakMap<Receiver, { codecs: Receiver['codecs']; first: Codec | undefined }>();

/** `receiver.codecArray[0]`: the codec of lowest payload type, first in object order on a tie. */
export function firstCodec(receiver: Receiver): Codec | undefined {
  const known = firstCodecs.get(receiver);
  if (known?.codecs === receiver.codecs) return known.first;
  let first: Codec | undefined;
  for (const codec of Object.values(receiver.codecs)) {
    // werift's sort compares with `-`: anything but numbers, leave to it (and keep nothing).
    if (typeof codec?.payloadType !== 'number' || Number.isNaN(codec.payloadType)) return receiver.codecArray[0];
    if (first === undefined || codec.payloadType < first.payloadType) first = codec;
  }
  firstCodecs.set(receiver, { codecs: receiver.codecs, first });
  return first;
}

/** werift's `nackEnabled` / `twccEnabled` getters, as booleans (handleRTP only tests them). */
function feedbackOn(receiver: Receiver, type: string): boolean {
  const codec = firstCodec(receiver);
  if (codec === undefined) return false;
  for (const f of codec.rtcpFeedback) if (f.type === type) return true;
  return false;
}

const TWCC = RTP_EXTENSION_URI.transportWideCC;

/**
 * werift's handleRTP for an ordinary packet of a receiver that is not stopped: statistics,
 * transport-cc, the NACK generator, the track (a clone of the packet when `clone`, as werift hands
 * it; the packet itself for a caller that made it for this call alone), the RTCP loop. Returns
 * false, having done nothing, for what werift's own way must take: no codec, the SSRC's first
 * packet, RTX or RED.
 */
export function receiveOrdinary(receiver: Receiver, packet: RtpPacket, extensions: Record<string, unknown>, track: Track | undefined, clone: boolean): boolean {
  const codec = receiver.codecs[packet.header.payloadType];
  const ssrc = packet.header.ssrc;
  const stats = codec && receiver.remoteStreams[ssrc];
  if (!stats || !ordinaryCodec(codec)) return false;
  stats.add(packet);
  if (receiver.receiverTWCC) receiver.receiverTWCC.handleTWCC(extensions[TWCC]);
  else if (feedbackOn(receiver, 'transport-cc')) receiver.setupTWCC(ssrc);
  if (track?.kind === 'video' && feedbackOn(receiver, 'nack')) receiver.nack.addPacket(packet);
  if (track) track.onReceiveRtp.execute(clone ? packet.clone() : packet, extensions);
  // runRtcp returns at once when its loop runs or the receiver stopped.
  if (!receiver.rtcpRunning && !receiver.stopped) void receiver.runRtcp();
  return true;
}

const handleRtp: PatchTarget = {
  name: 'RTCRtpReceiver.prototype.handleRTP',
  owner: RTCRtpReceiver.prototype,
  key: 'handleRTP',
  arity: 3,
  // Each step the fast path repeats, in werift's order.
  source: [
    /if \(this\.stopped\) \{\s*return;\s*\}\s*const codec = this\.codecs\[packet\.header\.payloadType\];\s*if \(!codec\) \{\s*return;\s*\}/,
    /this\.remoteStreams\[packet\.header\.ssrc\] = this\.remoteStreams\[packet\.header\.ssrc\] \?\? new StreamStatistics\(codec\.clockRate\);\s*this\.remoteStreams\[packet\.header\.ssrc\]\.add\(packet\);\s*if \(this\.receiverTWCC\) \{/,
    /const transportSequenceNumber = extensions\[RTP_EXTENSION_URI\.transportWideCC\];/,
    /this\.receiverTWCC\.handleTWCC\(transportSequenceNumber\);\s*\} else if \(this\.twccEnabled\) \{\s*this\.setupTWCC\(packet\.header\.ssrc\);\s*\}\s*if \(codec\.name\.toLowerCase\(\) === "rtx"\) \{/,
    /if \(codec\.name\.toLowerCase\(\) === "red"\) \{/,
    /if \(track\?\.kind === "video" && this\.nackEnabled\) \{\s*this\.nack\.addPacket\(packet\);\s*\}\s*if \(track\) \{\s*if \(red\) \{/,
    /\} else \{\s*track\.onReceiveRtp\.execute\(packet\.clone\(\), extensions\);\s*\}\s*\}\s*this\.runRtcp\(\);\s*\}$/,
  ],
};
const getters: PatchTarget[] = [
  ['nackEnabled', /return this\.codecArray\[0\]\?\.rtcpFeedback\.find\(\(f\) => f\.type === "nack"\);/],
  ['twccEnabled', /return this\.codecArray\[0\]\?\.rtcpFeedback\.find\(\s*\(f\) => f\.type === useTWCC\(\)\.type\s*\);/],
  ['codecArray', /return Object\.values\(this\.codecs\)\.sort\(\s*\(a, b\) => a\.payloadType - b\.payloadType\s*\);/],
].map(([key, re]) => ({ name: `RTCRtpReceiver.prototype.${key as string} (get)`, owner: Object.getOwnPropertyDescriptor(RTCRtpReceiver.prototype, key as string) ?? {}, key: 'get', arity: 0, source: [re as RegExp] }));
const prepareReceive: PatchTarget = {
  name: 'RTCRtpReceiver.prototype.prepareReceive',
  owner: RTCRtpReceiver.prototype,
  key: 'prepareReceive',
  arity: 1,
  source: [/this\.codecs\[c\.payloadType\] = c;/],
};
/** werift's receiver changes its codecs in prepareReceive only (and starts them empty): no other method may assign them. */
function codecsWrittenElsewhere(): string[] {
  const proto = RTCRtpReceiver.prototype as unknown as Record<string, unknown>;
  return Object.getOwnPropertyNames(proto).filter((key) => {
    const fn = Object.getOwnPropertyDescriptor(proto, key)?.value as unknown;
    return key !== 'prepareReceive' && key !== 'constructor' && typeof fn === 'function' && /this\.codecs(\[[^\]]*\])? =[^=]/.test(fn.toString());
  });
}
const runRtcp: PatchTarget = {
  name: 'RTCRtpReceiver.prototype.runRtcp',
  owner: RTCRtpReceiver.prototype,
  key: 'runRtcp',
  arity: 0,
  source: [/^async runRtcp\(\) \{\s*if \(this\.rtcpRunning \|\| this\.stopped\) return;/],
};

export const leanRtpReceive: WeriftPatch = {
  name: 'lean-rtp-receive',
  wrong: "werift's handleRTP splits the codec's MIME type, sorts the codecs and starts an async call for every received RTP packet",
  upstream: 'docs/upstream/werift-handle-rtp.md',
  targets: [handleRtp, prepareReceive],
  precondition() {
    // What the fast path computes in their place.
    const problems = [...getters, runRtcp].flatMap((t) => {
      const fn = (t.owner as Record<string, unknown>)[t.key];
      return typeof fn === 'function' && t.source!.every((re) => re.test(fn.toString())) ? [] : [`${t.name} changed`];
    });
    const writers = codecsWrittenElsewhere();
    if (writers.length > 0) problems.push(`RTCRtpReceiver's ${writers.join(', ')} now change its codecs`);
    return problems.length > 0 ? problems.join('; ') : undefined;
  },
  apply() {
    replaceMethod<HandleRtp>(this.name, handleRtp, (original) =>
      function (this: Receiver, packet, extensions, track) {
        if (this.stopped) return;
        // No codec, the SSRC's first packet, RTX or RED: werift's own way.
        if (!receiveOrdinary(this, packet, extensions, track, true)) original.call(this, packet, extensions, track);
      },
    );
    replaceMethod<(this: Receiver, params: unknown) => void>(this.name, prepareReceive, (original) =>
      function (this: Receiver, params) {
        firstCodecs.delete(this);
        original.call(this, params);
      },
    );
  },
};
