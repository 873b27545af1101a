/**
 * One recording file of one publisher's stream, fed with its RTP packets and sender reports as
 * they reach the relay (no decoding): reorder -> frames -> one clock -> the muxer.
 *
 * - It starts on a keyframe (it asks for one at once, and again while none has come).
 * - Audio and video go on one timeline through the publisher's sender reports (lip sync); until
 *   every stream has had one, frames wait (up to `reportWaitMs`, then arrival times are used).
 * - t = 0 is the first keyframe; audio from before it is left out, so both start together.
 * - After a loss that retransmissions did not repair, video is skipped until the next keyframe.
 * - Each video frame lasts until the next; the last until `stop` (so the file's duration is the
 *   wall time recorded); gaps in the audio are filled with Opus silence so both tracks stay whole.
 */
import { StreamClock, ntpSeconds } from './clock.js';
import { opusSamples } from './depacketize.js';
import { AudioAssembler, VideoAssembler, type Frame } from './frames.js';
import { Reorderer, type RtpIn } from './reorder.js';
import { MediaFileWriter, type WriterTracks } from './writer.js';

export type Kind = 'audio' | 'video';

/** How long to wait for a gap to be repaired (the publisher leg asks for a keyframe at 400 ms). */
const VIDEO_REORDER_MS = 450;
/** Audio is not retransmitted: only reordering on the way. */
const AUDIO_REORDER_MS = 60;
/** While waiting for a keyframe, ask again this often. */
const KEYFRAME_RETRY_MS = 1_000;
/** 20 ms of silence in Opus (CELT, mono: any decoder plays it in a stereo stream). */
const OPUS_SILENCE = new Uint8Array([0xf8, 0xff, 0xfe]);
/** Audio that stopped while video goes on is filled with silence once it lags this far. */
const AUDIO_STALL_S = 1;

export interface RecorderOptions {
  path: string;
  tracks: WriterTracks;
  requestKeyframe: () => void;
  /** How long frames wait for sender reports before the recording uses arrival times. */
  reportWaitMs?: number;
  onError?: (err: Error) => void;
}

export interface RecorderStats {
  /** Seconds of media written. */
  seconds: number;
  bytes: number;
  videoFrames: number;
  audioFrames: number;
  /** Video frames left out (broken, or before a keyframe). */
  droppedFrames: number;
  /** Packets given up on. */
  lostPackets: number;
  /** How the tracks were put on one clock. */
  sync: 'reports' | 'arrival' | 'pending';
  /** From the first packet to the keyframe the file starts with (ms); undefined before it. */
  keyframeWaitMs: number | undefined;
}

export class Recorder {
  readonly writer: MediaFileWriter;
  readonly #tracks: WriterTracks;
  readonly #requestKeyframe: () => void;
  readonly #reportWaitMs: number;
  readonly #clocks: Record<Kind, StreamClock> = { audio: new StreamClock(48_000), video: new StreamClock(90_000) };
  readonly #reorder: Partial<Record<Kind, Reorderer>> = {};
  readonly #video: VideoAssembler | undefined;
  readonly #reports: Partial<Record<Kind, { seconds: number; rtp: number }>> = {};
  #firstAt: number | undefined;
  #lastAt = 0;
  #lastKeyframeAsk = -Infinity;
  #sync: RecorderStats['sync'] = 'pending';
  #pending: Frame[] = [];
  #origin = 0;
  /** Arrival of the frame the file starts with. */
  #startAt: number | undefined;
  #held: { frame: Frame; t: number } | undefined;
  #lastVideoT = -Infinity;
  #audioEnd: number | undefined;
  #stopped = false;
  readonly #stats = { videoFrames: 0, audioFrames: 0, seconds: 0 };

  constructor(options: RecorderOptions) {
    this.#tracks = options.tracks;
    this.#requestKeyframe = options.requestKeyframe;
    this.#reportWaitMs = options.reportWaitMs ?? 6_000;
    this.writer = new MediaFileWriter(options.path, options.tracks);
    this.writer.onError = options.onError;
    const take = (frame: Frame) => this.#frame(frame);
    if (options.tracks.video) {
      const video = new VideoAssembler(options.tracks.video, take, () => this.#askKeyframe(this.#lastAt, true));
      this.#video = video;
      this.#reorder.video = new Reorderer(VIDEO_REORDER_MS, (p, lost) => video.push(p, lost));
    }
    if (options.tracks.audio) {
      const audio = new AudioAssembler(take);
      this.#reorder.audio = new Reorderer(AUDIO_REORDER_MS, (p) => audio.push(p));
    }
  }

  /** Open the file; packets may come before it is open. */
  open(): Promise<void> {
    return this.writer.open();
  }

  get stats(): RecorderStats {
    return {
      seconds: this.#stats.seconds,
      bytes: this.writer.bytes,
      videoFrames: this.#stats.videoFrames,
      audioFrames: this.#stats.audioFrames,
      droppedFrames: this.#video?.dropped ?? 0,
      lostPackets: (this.#reorder.video?.lost ?? 0) + (this.#reorder.audio?.lost ?? 0),
      sync: this.#sync,
      keyframeWaitMs: this.#startAt === undefined ? undefined : Math.round(this.#startAt - this.#firstAt!),
    };
  }

  /** One RTP packet of the publisher's, with its arrival time in ms. */
  packet(kind: Kind, seq: number, ts: number, marker: boolean, payload: Uint8Array, at: number): void {
    if (this.#stopped || this.writer.error) return;
    this.#firstAt ??= at;
    this.#lastAt = at;
    const p: RtpIn = { seq, ts, marker, payload, at };
    this.#reorder[kind]?.push(p);
    if (this.#video?.waitingForKey) this.#askKeyframe(at);
    if (this.#sync === 'pending') this.#tryStart(at);
  }

  /** A sender report from the publisher for this kind's stream. */
  senderReport(kind: Kind, ntp: bigint, rtp: number): void {
    const report = { seconds: ntpSeconds(ntp), rtp };
    this.#reports[kind] = report;
    if (this.#sync === 'reports') this.#clocks[kind].anchor(report.seconds, rtp);
  }

  #askKeyframe(at: number, now = false): void {
    if (!now && at - this.#lastKeyframeAsk < KEYFRAME_RETRY_MS) return;
    this.#lastKeyframeAsk = at;
    this.#requestKeyframe();
  }

  #frame(frame: Frame): void {
    this.#clocks[frame.kind].extend(frame.ts);
    if (this.#sync !== 'pending') return this.#write(frame);
    // Before the start only the newest seconds of audio are worth keeping.
    this.#pending.push(frame);
    if (this.#pending.length > 2_000) this.#pending.splice(0, this.#pending.findIndex((f) => f.kind === 'video') > 0 ? 1 : 500);
  }

  #tryStart(now: number, force = false): void {
    const kinds = Object.keys(this.#reorder) as Kind[];
    const firstVideo = this.#pending.find((f) => f.kind === 'video');
    if (this.#tracks.video && !firstVideo) return;
    if (!this.#tracks.video && this.#pending.length === 0) return;
    if (kinds.every((k) => this.#reports[k])) {
      this.#sync = 'reports';
      for (const k of kinds) this.#clocks[k].anchor(this.#reports[k]!.seconds, this.#reports[k]!.rtp);
    } else if (force || now - this.#firstAt! >= this.#reportWaitMs) {
      this.#sync = 'arrival';
      for (const k of kinds) this.#anchorOnArrivals(k);
    } else {
      return;
    }
    const first = firstVideo ?? this.#pending[0];
    this.#startAt = first.at;
    const clock = this.#clocks[first.kind];
    this.#origin = clock.seconds(clock.extend(first.ts, false));
    const pending = this.#pending;
    this.#pending = [];
    for (const frame of pending) this.#write(frame);
  }

  /** The arrival that came soonest after its frame was made sets the stream's clock. */
  #anchorOnArrivals(kind: Kind): void {
    const frames = this.#pending.filter((f) => f.kind === kind);
    if (frames.length === 0) return;
    const clock = this.#clocks[kind];
    const base = clock.extend(frames[0].ts, false);
    let best = Infinity;
    for (const f of frames) best = Math.min(best, f.at / 1000 - (clock.extend(f.ts, false) - base) / clock.rate);
    clock.anchor(best, frames[0].ts);
  }

  #time(frame: Frame): number {
    const clock = this.#clocks[frame.kind];
    if (!clock.mapped) this.#anchorOnArrivals(frame.kind); // a stream that appeared only after the start
    if (!clock.mapped) clock.anchor(frame.at / 1000, frame.ts);
    return clock.seconds(clock.extend(frame.ts, false)) - this.#origin;
  }

  #write(frame: Frame): void {
    const t = this.#time(frame);
    if (frame.kind === 'audio') return this.#writeAudio(frame.data, t);
    if (t < -1) return; // from before the start: a reordered straggler
    if (this.#held) this.#flushHeld(t - this.#held.t);
    const at = Math.max(t, this.#lastVideoT + 0.001);
    this.#lastVideoT = at;
    this.#held = { frame, t: at };
    if (this.#audioEnd !== undefined && at - this.#audioEnd > AUDIO_STALL_S) this.#silence(at - AUDIO_STALL_S / 2);
  }

  #flushHeld(duration: number): void {
    const { frame, t } = this.#held!;
    this.#held = undefined;
    const d = Math.min(Math.max(duration, 0.001), 5);
    const v = frame.video!;
    this.writer.addVideo(frame.data, frame.key, t, d, v.width !== undefined ? { width: v.width, height: v.height!, codecString: v.codecString } : undefined);
    this.#stats.videoFrames++;
    this.#stats.seconds = Math.max(this.#stats.seconds, t + d);
  }

  #writeAudio(data: Uint8Array, t: number): void {
    if (t < 0) return; // before the first keyframe
    // Audio that begins after the picture (lost, or late from its source) begins with silence.
    if (this.#audioEnd === undefined && this.#tracks.video && t >= 0.02) {
      this.#audioEnd = 0;
      this.#silence(Math.min(t, 10));
    }
    if (this.#audioEnd !== undefined) {
      if (t - this.#audioEnd > 0.03) this.#silence(t);
      t = Math.max(t, this.#audioEnd - 0.005);
    }
    const duration = (opusSamples(data) ?? 960) / 48_000;
    this.writer.addAudio(data, t, duration);
    this.#audioEnd = t + duration;
    this.#stats.audioFrames++;
    this.#stats.seconds = Math.max(this.#stats.seconds, this.#audioEnd);
  }

  /** Fill the audio track with silence up to `until` (at most a minute at once). */
  #silence(until: number): void {
    let end = this.#audioEnd!;
    for (let n = 0; end + 0.02 <= until && n < 3_000; n++) {
      this.writer.addAudio(OPUS_SILENCE, end, 0.02);
      end += 0.02;
    }
    this.#audioEnd = end;
  }

  /** Write out what is held and finish the file; `at` (ms, the packets' clock) ends the last frame. */
  async stop(at: number): Promise<RecorderStats> {
    if (!this.#stopped) {
      this.#stopped = true;
      for (const r of Object.values(this.#reorder)) r.flush();
      if (this.#sync === 'pending' && this.#firstAt !== undefined) this.#tryStart(at, true);
      if (this.#held) this.#flushHeld((at - this.#held.frame.at) / 1000);
      await this.writer.finish();
    }
    return this.stats;
  }
}
