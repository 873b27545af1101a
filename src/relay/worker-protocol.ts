/**
 * Messages between the relay (main thread: signaling, HTTP, publishers) and its worker threads
 * (viewers' legs). Order matters and is kept: postMessage is FIFO per worker.
 */
import { RTCRtpCodecParameters } from 'werift';
import type { MediaKind } from './codecs.js';
import type { LegCounts } from './forwarder.js';
import type { RelayIceOptions } from './ice.js';
import type { Playing, QualityChoice } from './layer-selector.js';
import type { PausedLayer } from './layers.js';
import type { LinkSample } from './link.js';

export interface CodecData {
  mimeType: string;
  clockRate: number;
  channels?: number;
  parameters?: string;
}

export type Codecs = Partial<Record<MediaKind, RTCRtpCodecParameters>>;
export type CodecsData = Partial<Record<MediaKind, CodecData>>;

export function codecsToData(codecs: Codecs): CodecsData {
  const out: CodecsData = {};
  for (const kind of ['audio', 'video'] as const) {
    const c = codecs[kind];
    if (c) out[kind] = { mimeType: c.mimeType, clockRate: c.clockRate, channels: c.channels, parameters: c.parameters };
  }
  return out;
}

export function codecsFromData(data: CodecsData): Codecs {
  const out: Codecs = {};
  for (const kind of ['audio', 'video'] as const) {
    const c = data[kind];
    if (c) out[kind] = new RTCRtpCodecParameters({ ...c });
  }
  return out;
}

export interface WorkerInit {
  ice: RelayIceOptions;
  index: number;
}

export interface Candidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

/** Main → worker. `src` names one publisher (a new publisher of a room is a new source). */
export type ToWorker =
  | { t: 'create'; id: string; src: number; codecs: CodecsData; layers: number; paused: PausedLayer[] }
  /** The source's layers the relay has paused now (dynacast.ts): still there to be chosen. */
  | { t: 'paused'; src: number; layers: PausedLayer[] }
  | { t: 'quality'; id: string; choice: QualityChoice; shown?: number }
  | { t: 'offer'; req: number; id: string }
  | { t: 'answer'; req: number; id: string; sdp: string }
  | { t: 'whep'; req: number; id: string; sdp: string }
  | { t: 'candidate'; id: string; candidate: Candidate }
  | { t: 'close'; id: string }
  | { t: 'rtp'; src: number; kind: MediaKind; seq: number; ts: number; marker: boolean; payload: Uint8Array; layer: number };

/**
 * Worker → main. 'stats' comes every second: the legs' counters as deltas since the last one,
 * each source's outgoing rate, and the current estimate of each simulcast viewer's link.
 */
export type FromWorker =
  | { t: 'ready'; egress: string; threadId: number }
  | { t: 'reply'; req: number; ok: true; value?: string }
  | { t: 'reply'; req: number; ok: false; error: string }
  | { t: 'keyframe'; src: number; layer: number }
  /** The source's layers this worker's viewers are on or switching to (bit i: layer i), when that changes. */
  | { t: 'demand'; src: number; layers: number }
  | { t: 'playing'; id: string; playing: Playing }
  | { t: 'closed'; id: string; reason: string }
  | { t: 'stats'; counts: LegCounts; bitsPerSecond: Record<number, number>; links: LinkSample[]; utilization: number; cpuSeconds: number };
