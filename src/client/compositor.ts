/**
 * The video a screen share sends: the captured screen, with the presenter's camera in a corner
 * when asked, as one track that viewers play without doing anything.
 *
 * A captured screen delivers frames only when its content changes: a still slide gave 3 frames in
 * 8 s in Chromium, so the watch page would think the picture had stopped and a new viewer would
 * wait seconds for its first frame. The pipeline therefore repeats the newest frame while the
 * screen is still, at least every IDLE_MS.
 *
 * Where the browser has MediaStreamTrackProcessor and MediaStreamTrackGenerator (Chromium), frames
 * go through as VideoFrames: screen-only frames are passed on untouched, and the camera corner is
 * drawn only when there is one. Elsewhere a canvas and `captureStream()` do the same job.
 */

/** The newest frame is sent again when nothing new has gone out for this long. */
const IDLE_MS = 400;
/**
 * Right after a switch the encoder starts again at the new size and may drop its first frame or
 * two; a still screen would then show viewers nothing new until IDLE_MS later (a switch seen at
 * 700-800 ms instead of 300). So the first STARTING_FRAMES frames are repeated this often.
 */
const STARTING_IDLE_MS = 100;
const STARTING_FRAMES = 8;
/**
 * No first frame from the screen this long after asking: ask again (a new clone, a new reader),
 * keeping the earlier readers: whichever delivers first is kept. Chromium's tab capture
 * sometimes sends a new clone no frame at all; asking again only after 300 ms (and giving up on
 * the earlier reader) made one switch to the screen in six take 400-900 ms.
 */
const FIRST_FRAME_RETRY_MS = 100;
/** The same for the canvas pipeline, whose new video element needs longer to show a frame. */
const VIDEO_FIRST_FRAME_RETRY_MS = 300;
/** Readers of screen clones waiting for the first frame at once, at most. */
const FIRST_FRAME_READERS = 4;
/** The camera's share of the picture's width, and the margin around it. */
const CORNER_WIDTH = 0.22;
const CORNER_MARGIN = 0.02;

export interface Composition {
  /** The track to send. */
  readonly track: MediaStreamTrack;
  /** The screen it was made for. */
  readonly screen: MediaStreamTrack;
  /** Frames sent so far (for the page's figures and for tests). */
  readonly framesSent: number;
  /** Put this camera in the corner, or none. */
  setCamera(camera: MediaStreamTrack | null): void;
  /** The most frames per second it sends. */
  setFrameRate(fps: number): void;
  stop(): void;
}

/**
 * A clock that keeps its pace while the page is hidden: a presenter's broadcast tab is usually in
 * the background, where a page's own timers run at most once a second; a worker's do not.
 */
export function ticker(ms: number, tick: () => void): () => void {
  try {
    const url = URL.createObjectURL(new Blob([`setInterval(() => postMessage(0), ${ms});`], { type: 'text/javascript' }));
    const worker = new Worker(url);
    worker.onmessage = () => tick();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return () => worker.terminate();
  } catch {
    const id = setInterval(tick, ms);
    return () => clearInterval(id);
  }
}

/** Where the camera goes: bottom right, its own aspect ratio kept. */
export function cornerRect(width: number, height: number, cameraWidth: number, cameraHeight: number): { x: number; y: number; w: number; h: number } {
  const w = Math.round(width * CORNER_WIDTH);
  const h = Math.round((w * (cameraHeight || 3)) / (cameraWidth || 4));
  const margin = Math.round(width * CORNER_MARGIN);
  return { x: width - w - margin, y: height - h - margin, w, h };
}

type Ctx2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

function drawCorner(ctx: Ctx2D, camera: CanvasImageSource, width: number, height: number, cw: number, ch: number): void {
  const r = cornerRect(width, height, cw, ch);
  ctx.drawImage(camera, r.x, r.y, r.w, r.h);
  ctx.lineWidth = Math.max(2, Math.round(width / 640));
  ctx.strokeStyle = '#fff';
  ctx.strokeRect(r.x, r.y, r.w, r.h);
}

interface Processor {
  readable: ReadableStream<VideoFrame>;
}
type ProcessorClass = new (init: { track: MediaStreamTrack }) => Processor;
type GeneratorClass = new (init: { kind: 'video' }) => MediaStreamTrack & { writable: WritableStream<VideoFrame> };

function frameApi(): { Processor: ProcessorClass; Generator: GeneratorClass } | undefined {
  const g = globalThis as unknown as { MediaStreamTrackProcessor?: ProcessorClass; MediaStreamTrackGenerator?: GeneratorClass; VideoFrame?: unknown };
  if (!g.MediaStreamTrackProcessor || !g.MediaStreamTrackGenerator || !g.VideoFrame) return undefined;
  return { Processor: g.MediaStreamTrackProcessor, Generator: g.MediaStreamTrackGenerator };
}

/** The screen (and camera) as one track, by the best means this browser has. */
export function composeScreen(screen: MediaStreamTrack, camera: MediaStreamTrack | null, fps: number, options: { canvas?: boolean } = {}): Composition {
  const api = options.canvas ? undefined : frameApi();
  return api ? new FramePipeline(api, screen, camera, fps) : new CanvasPipeline(screen, camera, fps);
}

/** VideoFrames in, VideoFrames out (Chromium). */
class FramePipeline implements Composition {
  readonly track: MediaStreamTrack;
  readonly screen: MediaStreamTrack;
  framesSent = 0;
  readonly #api: { Processor: ProcessorClass; Generator: GeneratorClass };
  readonly #writer: WritableStreamDefaultWriter<VideoFrame>;
  /** The clone of the screen being read, and its reader; before the first frame, every clone asked. */
  #input: MediaStreamTrack | undefined;
  #screenReader: ReadableStreamDefaultReader<VideoFrame> | undefined;
  #waiting: { input: MediaStreamTrack; reader: ReadableStreamDefaultReader<VideoFrame> }[] = [];
  #askedAt = 0;
  #screenFrame: VideoFrame | undefined;
  #cameraFrame: VideoFrame | undefined;
  /** The newest screen frame has gone out as it is: sending it again needs a copy. */
  #screenSent = false;
  #cameraReader: ReadableStreamDefaultReader<VideoFrame> | undefined;
  /** The camera as given, and the clone this pipeline reads (and stops). */
  #camera: MediaStreamTrack | null = null;
  #cameraInput: MediaStreamTrack | undefined;
  #canvas: OffscreenCanvas | undefined;
  #minGapMs: number;
  #lastSent = 0;
  /** A frame newer than the last one sent is waiting for its turn. */
  #dirty = false;
  #writing = false;
  #stopped = false;
  readonly #stopTicker: () => void;

  constructor(api: { Processor: ProcessorClass; Generator: GeneratorClass }, screen: MediaStreamTrack, camera: MediaStreamTrack | null, fps: number) {
    this.#api = api;
    this.screen = screen;
    const generator = new api.Generator({ kind: 'video' });
    this.track = generator;
    this.#writer = generator.writable.getWriter();
    this.#minGapMs = 1000 / fps;
    this.#readScreen();
    this.setCamera(camera);
    this.#stopTicker = ticker(Math.min(50, IDLE_MS / 2), () => {
      if (!this.#screenFrame && performance.now() - this.#askedAt >= FIRST_FRAME_RETRY_MS) this.#readScreen();
      const since = performance.now() - this.#lastSent;
      const idle = this.framesSent < STARTING_FRAMES ? STARTING_IDLE_MS : IDLE_MS;
      if (since >= idle || (this.#dirty && since >= this.#minGapMs)) this.#send();
    });
  }

  setCamera(camera: MediaStreamTrack | null): void {
    if (camera === this.#camera) return;
    this.#camera = camera;
    void this.#cameraReader?.cancel().catch(() => undefined);
    this.#cameraReader = undefined;
    this.#cameraInput?.stop();
    this.#cameraInput = camera?.clone();
    this.#cameraFrame?.close();
    this.#cameraFrame = undefined;
    if (this.#cameraInput) {
      this.#cameraReader = new this.#api.Processor({ track: this.#cameraInput }).readable.getReader();
      void this.#read(this.#cameraReader, 'camera');
    }
    this.#dirty = true;
  }

  setFrameRate(fps: number): void {
    this.#minGapMs = 1000 / fps;
  }

  /**
   * Read a new clone of the screen: a new track asks the capturer for a frame. A still page's
   * capture sends frames only when it changes, so a frame sent before a reader was there is not
   * sent again; until the first frame arrives this is repeated (Chromium sometimes sends none),
   * and the first clone to deliver is the one read from then on.
   */
  #readScreen(): void {
    this.#askedAt = performance.now();
    const input = this.screen.clone();
    const reader = new this.#api.Processor({ track: input }).readable.getReader();
    this.#waiting.push({ input, reader });
    if (this.#waiting.length > FIRST_FRAME_READERS) this.#drop(this.#waiting.shift()!);
    void this.#read(reader, 'screen');
  }

  #drop(pending: { input: MediaStreamTrack; reader: ReadableStreamDefaultReader<VideoFrame> }): void {
    void pending.reader.cancel().catch(() => undefined);
    pending.input.stop();
  }

  /** The first screen frame came through `reader`: read only its clone from now on. */
  #adopt(reader: ReadableStreamDefaultReader<VideoFrame>): boolean {
    const chosen = this.#waiting.find((w) => w.reader === reader);
    if (!chosen) return false;
    for (const other of this.#waiting) if (other !== chosen) this.#drop(other);
    this.#waiting = [];
    this.#input = chosen.input;
    this.#screenReader = reader;
    return true;
  }

  async #read(reader: ReadableStreamDefaultReader<VideoFrame>, slot: 'screen' | 'camera'): Promise<void> {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done || !value) return;
      const current = slot === 'camera' ? this.#cameraReader : this.#screenReader;
      if (this.#stopped || (reader !== current && !(slot === 'screen' && this.#adopt(reader)))) {
        value.close();
        void reader.cancel().catch(() => undefined);
        return;
      }
      if (slot === 'screen') {
        this.#screenFrame?.close();
        this.#screenFrame = value;
        this.#screenSent = false;
      } else {
        this.#cameraFrame?.close();
        this.#cameraFrame = value;
      }
      this.#dirty = true;
      if (performance.now() - this.#lastSent >= this.#minGapMs) this.#send();
    }
  }

  #send(): void {
    const screen = this.#screenFrame;
    if (!screen || this.#writing || this.#stopped) return;
    // Microseconds, always rising: the generator's track wants ordered timestamps, and the two
    // sources' own timestamps need not share a clock.
    const timestamp = Math.round(performance.now() * 1000);
    let frame: VideoFrame;
    try {
      // A new screen frame goes out as it is (no copy). Sent again, it must be a copy: Chromium's
      // encoder drops a second frame that carries the same capture metadata.
      if (this.#cameraFrame || this.#screenSent) frame = this.#draw(screen, this.#cameraFrame, timestamp);
      else frame = new VideoFrame(screen, { timestamp });
      this.#screenSent = true;
    } catch (err) {
      console.warn('lancast: could not make a frame', err);
      return;
    }
    this.#lastSent = performance.now();
    this.framesSent++;
    this.#dirty = false;
    this.#writing = true;
    this.#writer
      .write(frame)
      .catch(() => frame.close())
      .finally(() => (this.#writing = false));
  }

  #draw(screen: VideoFrame, camera: VideoFrame | undefined, timestamp: number): VideoFrame {
    const width = screen.displayWidth;
    const height = screen.displayHeight;
    if (!this.#canvas || this.#canvas.width !== width || this.#canvas.height !== height) this.#canvas = new OffscreenCanvas(width, height);
    const ctx = this.#canvas.getContext('2d')!;
    ctx.drawImage(screen, 0, 0, width, height);
    if (camera) drawCorner(ctx, camera, width, height, camera.displayWidth, camera.displayHeight);
    return new VideoFrame(this.#canvas, { timestamp, alpha: 'discard' });
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopTicker();
    void this.#cameraReader?.cancel().catch(() => undefined);
    this.#screenFrame?.close();
    this.#cameraFrame?.close();
    void this.#writer.close().catch(() => undefined);
    void this.#screenReader?.cancel().catch(() => undefined);
    this.#input?.stop();
    for (const pending of this.#waiting.splice(0)) this.#drop(pending);
    this.#cameraInput?.stop();
    this.track.stop();
  }
}

/** Video elements drawn into a canvas on a ticker; the canvas's own track is sent. */
class CanvasPipeline implements Composition {
  readonly track: MediaStreamTrack;
  readonly screen: MediaStreamTrack;
  framesSent = 0;
  #screenVideo: HTMLVideoElement;
  #screenClone: MediaStreamTrack;
  #askedAt = performance.now();
  #cameraVideo: HTMLVideoElement | undefined;
  readonly #canvas = document.createElement('canvas');
  #stopTicker: () => void = () => undefined;

  constructor(screen: MediaStreamTrack, camera: MediaStreamTrack | null, fps: number) {
    this.screen = screen;
    // A clone, asked again while no frame has come (see FramePipeline.#readScreen).
    this.#screenClone = screen.clone();
    this.#screenVideo = playing(this.#screenClone);
    this.setCamera(camera);
    this.track = this.#canvas.captureStream().getVideoTracks()[0]!;
    this.setFrameRate(fps);
  }

  setCamera(camera: MediaStreamTrack | null): void {
    if (this.#cameraVideo) this.#cameraVideo.srcObject = null;
    this.#cameraVideo = camera ? playing(camera) : undefined;
  }

  setFrameRate(fps: number): void {
    this.#stopTicker();
    this.#stopTicker = ticker(Math.max(1000 / fps, 33), () => this.#draw());
  }

  #draw(): void {
    const v = this.#screenVideo;
    if (!v.videoWidth) {
      if (performance.now() - this.#askedAt >= VIDEO_FIRST_FRAME_RETRY_MS) {
        v.srcObject = null;
        this.#screenClone.stop();
        this.#screenClone = this.screen.clone();
        this.#screenVideo = playing(this.#screenClone);
        this.#askedAt = performance.now();
      }
      return;
    }
    if (this.#canvas.width !== v.videoWidth || this.#canvas.height !== v.videoHeight) {
      this.#canvas.width = v.videoWidth;
      this.#canvas.height = v.videoHeight;
    }
    const ctx = this.#canvas.getContext('2d')!;
    ctx.drawImage(v, 0, 0);
    const c = this.#cameraVideo;
    if (c?.videoWidth) drawCorner(ctx, c, v.videoWidth, v.videoHeight, c.videoWidth, c.videoHeight);
    this.framesSent++;
  }

  stop(): void {
    this.#stopTicker();
    this.#screenVideo.srcObject = null;
    this.#screenClone.stop();
    this.setCamera(null);
    this.track.stop();
  }
}

function playing(track: MediaStreamTrack): HTMLVideoElement {
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([track]);
  void video.play().catch(() => undefined);
  return video;
}

/**
 * A still picture with a line or two of text ("presenter paused"), sent when the shared screen
 * ended and there is no camera to show instead. Redrawn twice a second so new viewers get a frame.
 */
export function stillFrame(lines: string[], width = 1280, height = 720): { track: MediaStreamTrack; stop(): void } {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const draw = () => {
    ctx.fillStyle = '#1d1d1f';
    ctx.fillRect(0, 0, width, height);
    ctx.fillStyle = '#f2f2f2';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    lines.forEach((line, i) => {
      ctx.font = `${i === 0 ? 600 : 400} ${i === 0 ? 48 : 30}px system-ui, sans-serif`;
      ctx.fillText(line, width / 2, height / 2 + (i - (lines.length - 1) / 2) * 70);
    });
  };
  draw();
  const track = canvas.captureStream().getVideoTracks()[0];
  const stopTicker = ticker(500, draw);
  return {
    track,
    stop() {
      stopTicker();
      track.stop();
    },
  };
}
