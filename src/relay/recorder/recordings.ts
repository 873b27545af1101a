/**
 * Recordings of rooms: which rooms are recorded, one file per publisher ("part"), the files on
 * disk. A recording is asked for per room (the API, the Record button) or for every broadcast
 * (`--record`). While a room is recorded its publisher's packets and sender reports are tapped
 * (never changed: the live stream goes on as before, whatever happens to the file).
 *
 * A broadcaster who reloads the page or loses the network publishes again as a new publisher,
 * with new streams and clocks: the recording goes on in a new file, `<room>_<start>_part2.webm`
 * and so on. When no publisher comes back within RECONNECT_GRACE_MS, the recording ends.
 */
import { mkdir, readdir, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { RtcpSrPacket } from 'werift';
import type { Publisher } from '../publisher.js';
import { Recorder, type RecorderStats } from './recorder.js';
import { completeFile, fileExtension, REWRITE_SUFFIX, type WriterTracks } from './writer.js';

/** A recording whose publisher is gone ends when none has come back after this long. */
export const RECONNECT_GRACE_MS = 60_000;

export type RecordingState = 'waiting' | 'recording' | 'failed';

export interface RecordingStatus {
  room: string;
  state: RecordingState;
  /** When the recording was asked for (ms since the epoch). */
  startedAt: number;
  /** Seconds and bytes written, over all its parts. */
  seconds: number;
  bytes: number;
  parts: string[];
  /** When the current part's first frame came (ms since the epoch): its file's time 0. */
  writingSince?: number;
  /** Why it stopped writing (a full disk...), in words for the page. */
  error?: string;
}

export interface RecordingFile {
  file: string;
  room: string;
  startedAt: number;
  part: number;
  /** Seconds, when known (a file being written or finished cleanly). */
  duration: number | null;
  bytes: number;
  recording: boolean;
}

/** Counters for /metrics. */
export const recordingCounters = { bytesWritten: 0, errors: 0 };

interface Part {
  file: string;
  recorder: Recorder;
  publisher: Publisher;
  untap: () => void;
  done: Promise<RecorderStats>;
  lastBytes: number;
  /** When the tap began (ms since the epoch); its first packet comes within a frame's time. */
  tappedAt: number;
}

class Session {
  readonly room: string;
  readonly startedAt = Date.now();
  readonly stamp: string;
  state: RecordingState = 'waiting';
  error: string | undefined;
  part: Part | undefined;
  readonly parts: string[] = [];
  /** Seconds and bytes of the parts already finished. */
  seconds = 0;
  bytes = 0;
  graceTimer: NodeJS.Timeout | undefined;
  /** Parts being finished. */
  readonly finishing: Promise<unknown>[] = [];

  constructor(room: string) {
    this.room = room;
    this.stamp = new Date(this.startedAt).toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  }
}

const FILE_NAME = /^(.+)_(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)(?:_part(\d+))?\.(webm|mp4)$/u;

export interface RecordingsOptions {
  dir: string;
  logger: Logger;
  /** Record every broadcast. */
  auto: boolean;
  /** The room's live publisher, if any. */
  publisherOf: (room: string) => Publisher | undefined;
  /** A room started or stopped being recorded (it must be relayed while it is). */
  onChange?: (room: string) => void;
}

export class Recordings {
  readonly #options: RecordingsOptions;
  readonly #sessions = new Map<string, Session>();
  #closed = false;

  constructor(options: RecordingsOptions) {
    this.#options = options;
  }

  get dir(): string {
    return this.#options.dir;
  }

  /**
   * Files a crash left half-rewritten are dropped (the original stays beside them); files whose
   * writing never finished (no `.json` beside them: SIGKILL, or a rewrite cut short) are completed
   * in the background: a WebM gets its duration and cues. `repaired` resolves when that is done.
   */
  async init(): Promise<void> {
    await mkdir(this.#options.dir, { recursive: true, mode: 0o700 });
    const names = await readdir(this.#options.dir);
    for (const name of names) {
      if (name.endsWith(REWRITE_SUFFIX)) await rm(join(this.#options.dir, name), { force: true });
    }
    const unfinished = names.filter((n) => FILE_NAME.test(n) && !names.includes(`${n}.json`));
    this.repaired = (async () => {
      for (const name of unfinished) {
        const path = join(this.#options.dir, name);
        try {
          const duration = await completeFile(path);
          const m = FILE_NAME.exec(name)!;
          const size = (await stat(path)).size;
          await writeFile(`${path}.json`, JSON.stringify({ room: m[1], duration, bytes: size, repaired: true }), { mode: 0o600 });
          this.#options.logger.info({ file: name, seconds: Math.round(duration * 10) / 10 }, 'recording file completed after an unclean stop');
        } catch (err) {
          this.#options.logger.warn({ file: name, err: (err as Error).message }, 'recording file could not be completed (it may still play)');
        }
      }
    })();
  }

  /** Resolves once the files left unfinished by the last run are completed. */
  repaired: Promise<void> = Promise.resolve();

  isRecorded(room: string): boolean {
    return this.#options.auto || this.#sessions.has(room);
  }

  get active(): number {
    return [...this.#sessions.values()].filter((s) => s.part).length;
  }

  status(room: string): RecordingStatus | undefined {
    const s = this.#sessions.get(room);
    if (!s) return undefined;
    const live = s.part?.recorder.stats;
    return {
      room,
      state: s.state,
      startedAt: s.startedAt,
      seconds: s.seconds + (live?.seconds ?? 0),
      bytes: s.bytes + (live?.bytes ?? 0),
      parts: [...s.parts],
      ...(live?.keyframeWaitMs !== undefined ? { writingSince: s.part!.tappedAt + live.keyframeWaitMs } : {}),
      ...(s.error ? { error: s.error } : {}),
    };
  }

  /** Start recording a room (now if it is live, else when its broadcaster publishes). */
  start(room: string): RecordingStatus {
    let s = this.#sessions.get(room);
    if (!s || s.state === 'failed') {
      if (s) this.#end(s);
      s = new Session(room);
      this.#sessions.set(room, s);
      this.#options.logger.info({ room }, 'recording asked for');
      this.#options.onChange?.(room);
    }
    const publisher = this.#options.publisherOf(room);
    if (publisher?.ready && !s.part) this.#startPart(s, publisher);
    else if (!s.part) this.#armGrace(s);
    return this.status(room)!;
  }

  /** Stop recording a room; resolves once its file is finished. */
  async stop(room: string): Promise<RecordingStatus | undefined> {
    const s = this.#sessions.get(room);
    if (!s) return undefined;
    const status = this.#end(s);
    await Promise.all(s.finishing);
    return { ...status, seconds: s.seconds, bytes: s.bytes, state: s.state };
  }

  #end(s: Session): RecordingStatus {
    clearTimeout(s.graceTimer);
    const status = this.status(s.room)!;
    this.#sessions.delete(s.room);
    if (s.part) this.#finishPart(s);
    this.#options.logger.info({ room: s.room, parts: s.parts.length }, 'recording stopped');
    this.#options.onChange?.(s.room);
    return status;
  }

  /** The relay has a live publisher for a room: record it if the room is recorded. */
  publisherLive(room: string, publisher: Publisher): void {
    if (this.#closed) return;
    let s = this.#sessions.get(room);
    if (!s && this.#options.auto) {
      s = new Session(room);
      this.#sessions.set(room, s);
    }
    if (!s || s.state === 'failed') return;
    if (s.part && s.part.publisher !== publisher) this.#finishPart(s);
    if (!s.part) this.#startPart(s, publisher);
  }

  #startPart(s: Session, publisher: Publisher): void {
    clearTimeout(s.graceTimer);
    const tracks: WriterTracks = {};
    const video = publisher.codecs.video?.mimeType.toLowerCase();
    if (video === 'video/vp8') tracks.video = 'vp8';
    else if (video === 'video/h264') tracks.video = 'h264';
    if (publisher.codecs.audio?.mimeType.toLowerCase() === 'audio/opus') tracks.audio = 'opus';
    if (!tracks.video && !tracks.audio) return this.#fail(s, `cannot record ${video ?? 'this stream'}`);
    const number = s.parts.length + 1;
    const file = `${s.room}_${s.stamp}${number > 1 ? `_part${number}` : ''}${fileExtension(tracks)}`;
    const recorder = new Recorder({
      path: join(this.#options.dir, file),
      tracks,
      requestKeyframe: () => publisher.requestKeyframe(publisher.forwarder.layers.top()),
      onError: (err) => this.#fail(s, diskMessage(err)),
    });
    const untap = tap(publisher, recorder);
    const part: Part = { file, recorder, publisher, untap, done: Promise.resolve(recorder.stats), lastBytes: 0, tappedAt: Date.now() };
    s.part = part;
    s.parts.push(file);
    s.state = 'recording';
    s.error = undefined;
    void recorder.open();
    // The publisher leaving (a reload, a drop) ends the part; a new one starts when it is back.
    const onGone = setInterval(() => {
      this.#count(part);
      if (publisher.closed && s.part === part) {
        this.#finishPart(s);
        if (this.#sessions.get(s.room) === s) this.#armGrace(s);
      }
    }, 500);
    onGone.unref();
    const untapAll = part.untap;
    part.untap = () => {
      clearInterval(onGone);
      untapAll();
    };
    this.#options.logger.info({ room: s.room, file, tracks }, 'recording to file');
  }

  #count(part: Part): void {
    const bytes = part.recorder.writer.bytes;
    recordingCounters.bytesWritten += bytes - part.lastBytes;
    part.lastBytes = bytes;
  }

  #finishPart(s: Session): void {
    const part = s.part!;
    s.part = undefined;
    part.untap();
    part.done = part.recorder.stop(performance.now()).then(async (stats) => {
      void s.finishing.splice(s.finishing.indexOf(part.done), 1);
      this.#count(part);
      s.seconds += stats.seconds;
      s.bytes += stats.bytes;
      const path = join(this.#options.dir, part.file);
      if (stats.videoFrames + stats.audioFrames === 0 && !part.recorder.writer.error) {
        await rm(path, { force: true }); // nothing came: no empty file
        s.parts.splice(s.parts.indexOf(part.file), 1);
      } else {
        const size = await stat(path).then((st) => st.size, () => stats.bytes);
        await writeFile(`${path}.json`, JSON.stringify({ room: s.room, startedAt: s.startedAt, duration: stats.seconds, bytes: size, sync: stats.sync }), { mode: 0o600 }).catch(() => undefined);
        this.#options.logger.info({ room: s.room, file: part.file, seconds: Math.round(stats.seconds * 10) / 10, bytes: size, keyframeWaitMs: stats.keyframeWaitMs, droppedFrames: stats.droppedFrames, lostPackets: stats.lostPackets, sync: stats.sync }, 'recording file finished');
      }
      return stats;
    });
    s.finishing.push(part.done);
  }

  #fail(s: Session, message: string): void {
    if (s.state === 'failed') return;
    recordingCounters.errors++;
    s.state = 'failed';
    s.error = message;
    this.#options.logger.error({ room: s.room, file: s.part?.file }, `recording stopped: ${message}; the live stream goes on`);
    if (s.part) this.#finishPart(s);
  }

  #armGrace(s: Session): void {
    clearTimeout(s.graceTimer);
    s.state = 'waiting';
    s.graceTimer = setTimeout(() => this.#sessions.get(s.room) === s && this.#end(s), RECONNECT_GRACE_MS);
    s.graceTimer.unref();
  }

  /** Every recording file, newest first. */
  async list(): Promise<RecordingFile[]> {
    const names = await readdir(this.#options.dir).catch(() => [] as string[]);
    const writing = new Map<string, Part>();
    for (const s of this.#sessions.values()) if (s.part) writing.set(s.part.file, s.part);
    const files: RecordingFile[] = [];
    for (const file of names) {
      const m = FILE_NAME.exec(file);
      if (!m) continue;
      const st = await stat(join(this.#options.dir, file)).catch(() => undefined);
      if (!st) continue;
      const part = writing.get(file);
      let duration: number | null = part ? part.recorder.stats.seconds : null;
      if (!part) {
        const meta = await readFile(join(this.#options.dir, `${file}.json`), 'utf8').then((t) => JSON.parse(t) as { duration?: number }, () => undefined);
        duration = typeof meta?.duration === 'number' ? meta.duration : null;
      }
      files.push({
        file,
        room: m[1],
        startedAt: Date.parse(m[2].replace(/T(\d\d)-(\d\d)-(\d\d)Z/, 'T$1:$2:$3Z')),
        part: Number(m[3] ?? 1),
        duration,
        bytes: st.size,
        recording: part !== undefined,
      });
    }
    return files.sort((a, b) => b.startedAt - a.startedAt || a.part - b.part);
  }

  /** The path of a recording file, if that name is one. */
  path(file: string): string | undefined {
    return FILE_NAME.test(file) && !file.includes('/') && !file.includes('\\') ? join(this.#options.dir, file) : undefined;
  }

  /** Delete a file (not one being written). */
  async remove(file: string): Promise<'deleted' | 'busy' | 'missing'> {
    const path = this.path(file);
    if (!path) return 'missing';
    for (const s of this.#sessions.values()) if (s.part?.file === file) return 'busy';
    try {
      await rm(path);
    } catch {
      return 'missing';
    }
    await rm(`${path}.json`, { force: true });
    return 'deleted';
  }

  /** Finish every file (SIGTERM). */
  async close(): Promise<void> {
    this.#closed = true;
    const sessions = [...this.#sessions.values()];
    for (const s of sessions) this.#end(s);
    await Promise.all(sessions.flatMap((s) => s.finishing));
  }
}

/** Words for the page and the log: what went wrong with the disk. */
function diskMessage(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || /ENOSPC/.test(err.message)) return 'the disk is full';
  if (code === 'EACCES' || code === 'EPERM') return 'the recordings folder cannot be written';
  return err.message;
}

/**
 * Feed a recorder with a publisher's packets and sender reports; returns the way to stop. Of a
 * simulcast publisher's layers, the highest as the recording starts is recorded.
 */
function tap(publisher: Publisher, recorder: Recorder): () => void {
  const previous = publisher.onPacket;
  const layer = publisher.forwarder.layers.top();
  const rid = publisher.forwarder.layers.ordered().find((l) => l.index === layer)?.rid;
  const onPacket: Publisher['onPacket'] = (kind, seq, ts, marker, payload, packetLayer) => {
    previous?.(kind, seq, ts, marker, payload, packetLayer);
    if (kind === 'video' && packetLayer !== layer) return;
    recorder.packet(kind, seq, ts, marker, payload, performance.now());
  };
  publisher.onPacket = onPacket;
  const subscriptions: { unSubscribe(): void }[] = [];
  for (const transceiver of publisher.pc.getTransceivers()) {
    for (const track of transceiver.receiver.tracks) {
      const kind = track.kind as 'audio' | 'video';
      if (track.rid !== undefined && track.rid !== rid) continue;
      subscriptions.push(
        track.onReceiveRtcp.subscribe((packet) => {
          if (packet instanceof RtcpSrPacket) recorder.senderReport(kind, packet.senderInfo.ntpTimestamp, packet.senderInfo.rtpTimestamp);
        }),
      );
    }
  }
  return () => {
    // Someone may have chained after us: then leave the chain as it is and go quiet instead.
    // (the recorder is stopped by then and ignores what still comes).
    if (publisher.onPacket === onPacket) publisher.onPacket = previous;
    for (const s of subscriptions) s.unSubscribe();
  };
}
