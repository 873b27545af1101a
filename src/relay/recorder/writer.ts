/**
 * Frames into a file, through mediabunny's muxers (no container code of our own): VP8 (or no
 * video) with Opus -> WebM, H.264 with Opus -> fragmented MP4. Both are written so that what is on
 * disk plays at every moment, up to the last cluster or fragment (about a second): WebM clusters
 * of unknown size appended one after another, as a live WebM stream is, and MP4 fragments (moof +
 * mdat) after a moov that needs nothing from the end. On a clean finish the WebM gets its duration
 * and cues written in (see `finish`). Writes go to the file as the muxer produces them; a failed
 * write (a full disk) fails the writer, and what was written before it stays playable.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import {
  ALL_FORMATS,
  Conversion,
  EncodedAudioPacketSource,
  EncodedPacket,
  EncodedVideoPacketSource,
  FilePathSource,
  FilePathTarget,
  Input,
  Mp4OutputFormat,
  Output,
  StreamTarget,
  WEBM,
  WebMOutputFormat,
  type StreamTargetChunk,
} from 'mediabunny';
import type { VideoCodec } from './depacketize.js';

export interface WriterTracks {
  video?: VideoCodec;
  audio?: 'opus';
}

export interface VideoMeta {
  width: number;
  height: number;
  /** H.264's avc1.PPCCLL; VP8 needs none. */
  codecString?: string;
}

export function fileExtension(tracks: WriterTracks): '.webm' | '.mp4' {
  return tracks.video === 'h264' ? '.mp4' : '.webm';
}

/** Frames waiting for the disk beyond this: the disk cannot keep up, stop rather than fill memory. */
const MAX_QUEUED = 3_000;

export class MediaFileWriter {
  readonly path: string;
  readonly #tracks: WriterTracks;
  #file: FileHandle | undefined;
  #output: Output | undefined;
  #video: EncodedVideoPacketSource | undefined;
  #audio: EncodedAudioPacketSource | undefined;
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #videoStarted = false;
  #audioStarted = false;
  /** Bytes in the file (its end). */
  bytes = 0;
  /** The first failure (a write, the muxer); once set, nothing more is written. */
  error: Error | undefined;
  onError: ((err: Error) => void) | undefined;

  constructor(path: string, tracks: WriterTracks) {
    this.path = path;
    this.#tracks = tracks;
  }

  /** Opens the file and starts the muxer; frames added before it is done wait for it. */
  open(): Promise<void> {
    this.#queue = this.#open().catch((err: Error) => this.#fail(err));
    return this.#queue;
  }

  async #open(): Promise<void> {
    const file = await open(this.path, 'wx', 0o600);
    this.#file = file;
    const writable = new WritableStream<StreamTargetChunk>({
      write: async (chunk) => {
        await file.write(chunk.data, 0, chunk.data.byteLength, chunk.position);
        this.bytes = Math.max(this.bytes, chunk.position + chunk.data.byteLength);
      },
    });
    const format =
      this.#tracks.video === 'h264'
        ? new Mp4OutputFormat({ fastStart: 'fragmented', minimumFragmentDuration: 1 })
        : new WebMOutputFormat({ appendOnly: true, minimumClusterDuration: 1 });
    const output = new Output({ format, target: new StreamTarget(writable) });
    if (this.#tracks.video) {
      this.#video = new EncodedVideoPacketSource(this.#tracks.video === 'h264' ? 'avc' : 'vp8');
      output.addVideoTrack(this.#video, { frameRate: 30 });
    }
    if (this.#tracks.audio) {
      this.#audio = new EncodedAudioPacketSource('opus');
      output.addAudioTrack(this.#audio);
    }
    this.#output = output;
    await output.start();
  }

  /** Frames waiting to be muxed and written. */
  get queued(): number {
    return this.#queued;
  }

  addVideo(data: Uint8Array, key: boolean, seconds: number, duration: number, meta?: VideoMeta): void {
    if (!this.#tracks.video) return;
    const first = !this.#videoStarted;
    this.#videoStarted = true;
    const packet = new EncodedPacket(data, key ? 'key' : 'delta', seconds, duration);
    const config = first && meta
      ? { decoderConfig: { codec: meta.codecString ?? 'vp8', codedWidth: meta.width, codedHeight: meta.height } }
      : undefined;
    this.#enqueue(() => this.#video!.add(packet, config));
  }

  addAudio(data: Uint8Array, seconds: number, duration: number): void {
    if (!this.#tracks.audio) return;
    const first = !this.#audioStarted;
    this.#audioStarted = true;
    const packet = new EncodedPacket(data, 'key', seconds, duration);
    this.#enqueue(() => this.#audio!.add(packet, first ? { decoderConfig: { codec: 'opus', numberOfChannels: 2, sampleRate: 48_000 } } : undefined));
  }

  #enqueue(add: () => Promise<void>): void {
    if (this.error) return;
    if (this.#queued >= MAX_QUEUED) return this.#fail(new Error('the disk is not keeping up with the recording'));
    this.#queued++;
    this.#queue = this.#queue.then(async () => {
      this.#queued--;
      if (this.error) return;
      try {
        await add();
      } catch (err) {
        this.#fail(err as Error);
      }
    });
  }

  #fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.onError?.(err);
  }

  /** Write what is queued and close the file properly (when nothing failed). */
  async finish(): Promise<void> {
    await this.#queue;
    const started = this.#videoStarted || this.#audioStarted;
    try {
      if (!this.error && this.#output && started) await this.#output.finalize();
      else await this.#output?.cancel();
    } catch (err) {
      this.#fail(err as Error);
    }
    await this.#file?.close().catch(() => undefined);
    this.#file = undefined;
    if (!this.error && started && this.path.endsWith('.webm')) {
      try {
        await withDurationAndCues(this.path);
      } catch (err) {
        // The live-written file stays: it plays, only without a duration and a seek index.
        this.#fail(new Error(`could not add the duration and seek index: ${(err as Error).message}`));
      }
    }
  }
}

/** Suffix of a WebM being rewritten; a leftover one (the server died meanwhile) can be deleted. */
export const REWRITE_SUFFIX = '.rewrite.tmp';

/**
 * A live-written WebM has no duration and no cues (players show no length and seek badly): copy
 * its packets, untouched, into a WebM written the seekable way, then put that in its place.
 */
export async function withDurationAndCues(path: string): Promise<void> {
  const tmp = path + REWRITE_SUFFIX;
  const input = new Input({ source: new FilePathSource(path), formats: [WEBM] });
  try {
    const output = new Output({ format: new WebMOutputFormat(), target: new FilePathTarget(tmp) });
    const conversion = await Conversion.init({ input, output, copy: { mode: 'forced' }, showWarnings: false });
    if (!conversion.isValid) throw new Error('the file cannot be copied');
    await conversion.execute();
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    input.dispose();
  }
}

/**
 * A file whose writing did not finish (the server was killed, or stopped before the rewrite was
 * done): a WebM gets its duration and cues now; returns the duration in seconds.
 */
export async function completeFile(path: string): Promise<number> {
  if (path.endsWith('.webm')) await withDurationAndCues(path);
  const input = new Input({ source: new FilePathSource(path), formats: ALL_FORMATS });
  try {
    return await input.computeDuration();
  } finally {
    input.dispose();
  }
}
