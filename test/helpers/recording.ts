/** The recording API as a test uses it, and a look at one decoded frame of a file. */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';

export interface RecordingStatusBody {
  room: string;
  state: 'waiting' | 'recording' | 'failed';
  seconds: number;
  bytes: number;
  parts: string[];
  writingSince?: number;
  error?: string;
}
export interface RecordingItem {
  file: string;
  room: string;
  startedAt: number;
  part: number;
  duration: number | null;
  bytes: number;
  recording: boolean;
  url: string;
}

export function recordingApi(base: string, key: string | undefined) {
  const call = async <T>(method: string, path: string): Promise<{ status: number; body?: T }> => {
    const res = await fetch(`${base}${path}`, { method, headers: key ? { authorization: `Bearer ${key}` } : {} });
    const text = await res.text();
    return { status: res.status, body: res.ok && text ? (JSON.parse(text) as T) : undefined };
  };
  const room = (r: string) => `/api/rooms/${encodeURIComponent(r)}/recording`;
  return {
    start: (r: string) => call<RecordingStatusBody>('POST', room(r)),
    stop: (r: string) => call<RecordingStatusBody>('DELETE', room(r)),
    status: (r: string) => call<RecordingStatusBody>('GET', room(r)),
    list: () => call<{ recordings: RecordingItem[] }>('GET', '/api/recordings'),
    remove: (file: string) => call<never>('DELETE', `/api/recordings/${encodeURIComponent(file)}`),
  };
}

/** One video frame at `seconds`, decoded by ffmpeg to 64x48 grey: its mean and brightest pixel, and a hash. */
export function frameLuma(file: string, seconds: number): { mean: number; max: number; hash: string } {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-ss', String(seconds), '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', '64x48', '-']);
  assert(raw.length === 64 * 48, `no frame at ${seconds} s (${videoGaps(file)})`);
  let sum = 0;
  let max = 0;
  for (const v of raw) {
    sum += v;
    max = Math.max(max, v);
  }
  return { mean: sum / raw.length, max, hash: createHash('sha256').update(raw).digest('hex') };
}

/**
 * Where a file's video stands still: its first and last frame times and every gap over half a
 * second between frames, for a failure's message (a stall after a loss, or a source that stopped).
 */
export function videoGaps(file: string): string {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  const times = out.split('\n').filter(Boolean).map(Number).sort((a, b) => a - b);
  if (times.length === 0) return 'no video frames';
  const gaps: string[] = [];
  for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] > 0.5) gaps.push(`${times[i - 1]}-${times[i]} s`);
  return `${times.length} video frames from ${times[0]} to ${times.at(-1)} s; gaps: ${gaps.join(', ') || 'none'}`;
}

function assert(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}
