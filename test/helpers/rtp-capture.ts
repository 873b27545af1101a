/**
 * Captures of what a real publisher (Chromium) sent the relay, made by scripts/capture-rtp.ts:
 * RTP packets and sender reports with their arrival times, replayed into a recorder.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

export type Kind = 'audio' | 'video';
export interface CapturedPacket {
  t: number;
  k: Kind;
  seq: number;
  ts: number;
  m: 0 | 1;
  payload: Uint8Array;
}
export type CaptureRecord = CapturedPacket | { t: number; k: Kind; sr: { ntp: bigint; rtp: number } };

export interface Capture {
  codecs: { audio?: string; video?: string };
  records: CaptureRecord[];
}

export function loadCapture(name: 'vp8' | 'h264'): Capture {
  const file = fileURLToPath(new URL(`../fixtures/rtp-${name}.jsonl.gz`, import.meta.url));
  const [header, ...lines] = gunzipSync(readFileSync(file)).toString('utf8').trim().split('\n');
  /** One line of the capture file, as scripts/capture-rtp.ts writes it. */
  type Line = { t: number; k: Kind; sr?: { ntp: string; rtp: number }; seq: number; ts: number; m: 0 | 1; p: string };
  const records = lines.map((line): CaptureRecord => {
    const r = JSON.parse(line) as Line;
    if (r.sr) return { t: r.t, k: r.k, sr: { ntp: BigInt(r.sr.ntp), rtp: r.sr.rtp } };
    return { t: r.t, k: r.k, seq: r.seq, ts: r.ts, m: r.m, payload: new Uint8Array(Buffer.from(r.p, 'base64')) };
  });
  return { codecs: (JSON.parse(header) as Pick<Capture, 'codecs'>).codecs, records };
}

export interface Sink {
  packet(kind: Kind, seq: number, ts: number, marker: boolean, payload: Uint8Array, at: number): void;
  senderReport(kind: Kind, ntp: bigint, rtp: number): void;
}

/** Feed a capture to a recorder; `keep` drops the packets it returns false for (loss). */
export function replay(capture: Capture, sink: Sink, keep: (r: CaptureRecord, i: number) => boolean = () => true): number {
  let last = 0;
  capture.records.forEach((r, i) => {
    last = r.t;
    if (!keep(r, i)) return;
    if ('sr' in r) sink.senderReport(r.k, r.sr.ntp, r.sr.rtp);
    else sink.packet(r.k, r.seq, r.ts, r.m === 1, r.payload, r.t);
  });
  return last;
}

/** ffprobe's view of a file: format, streams, and (optionally) packets. */
export interface Probe {
  format: { duration?: string; format_name: string };
  streams: { codec_type: string; codec_name: string; start_time?: string; duration?: string; width?: number; height?: number }[];
  packets?: { codec_type: string; pts_time: string; flags: string; data_hash?: string }[];
  frames?: { media_type: string; width?: number; height?: number; pts_time?: string; best_effort_timestamp_time?: string }[];
}

export function ffprobe(file: string, extra: string[] = []): Probe {
  const out = execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...extra, file], { maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(out.toString()) as Probe;
}

/** ffmpeg's decode errors for a file (empty: it decodes cleanly). */
export function decodeErrors(file: string): string {
  try {
    return execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString() +
      '';
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err);
  }
}

/** Each decoded video frame's checksum by its time in ms (ffmpeg's framemd5). */
export function videoFrameHashes(file: string): Map<number, string> {
  const out = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v', '-vsync', 'passthrough', '-f', 'framemd5', '-'], { maxBuffer: 64 * 1024 * 1024 }).toString();
  const hashes = new Map<number, string>();
  for (const line of out.split('\n')) {
    if (line.startsWith('#') || !line.trim()) continue;
    const [, , pts, , , hash] = line.split(',').map((s) => s.trim());
    hashes.set(Number(pts), hash);
  }
  return hashes;
}
