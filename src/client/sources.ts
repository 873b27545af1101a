/**
 * What the broadcaster shows: the camera, the screen, or the screen with the camera in a corner,
 * and what it says: the microphone, mixed with the shared screen's own sound where the browser
 * gives it. `Sources` opens and closes the devices and hands out one video and one audio track to
 * send (`output`); a switch opens the new source before the old one closes, so the page can swap
 * tracks on every connection (RTCRtpSender.replaceTrack) without viewers reconnecting.
 */
import { composeScreen, stillFrame, type Composition } from './compositor.js';
import { Emitter } from './emitter.js';

export const SOURCE_KINDS = ['camera', 'screen', 'screen+camera'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

export function parseSource(value: string | null | undefined): SourceKind | undefined {
  return SOURCE_KINDS.find((k) => k === value?.replace(' ', '+'));
}

export interface Output {
  video: MediaStreamTrack | null;
  audio: MediaStreamTrack | null;
}

/** How to capture: constraints for each device and the screen pipeline's frame rate. */
export interface Capture {
  camera: MediaTrackConstraints;
  screen: MediaTrackConstraints;
  /** The most frames per second the screen pipeline sends. */
  fps: number;
  /** contentHint for the video track sent ('' for the browser's default). */
  contentHint: '' | 'motion' | 'detail' | 'text';
}

export const DEFAULT_CAPTURE: Capture = { camera: {}, screen: { frameRate: { ideal: 15, max: 15 } }, fps: 15, contentHint: '' };

export type SourcesEvents = {
  /** The tracks to send changed. */
  output: [Output];
  /** The shared screen ended from the browser's own controls; the page fell back to this. */
  fallback: ['camera' | 'still'];
  /** Part of a switch failed and was left out (e.g. the corner camera), the rest went ahead. */
  warning: [unknown];
  /** The browser blocks this kind for the site (its settings); the page goes on without it. */
  blocked: ['camera' | 'microphone'];
};

export interface SourcesOptions {
  /** Text of the still picture shown when the screen share ends and there is no camera. */
  stillText: string[];
  /** Composite with a canvas even where VideoFrames are available (tests the fallback). */
  canvas?: boolean;
}

export class Sources extends Emitter<SourcesEvents> {
  kind: SourceKind = 'camera';
  /** Device ids: '' for the default device, 'none' for none. */
  cameraId = '';
  micId = '';
  /** Mix the shared screen's sound (tab or system audio) with the microphone. */
  screenAudio = true;
  /** The stream the preview plays: always the tracks being sent. */
  readonly preview = new MediaStream();
  output: Output = { video: null, audio: null };
  camera: MediaStreamTrack | undefined;
  mic: MediaStreamTrack | undefined;
  screen: MediaStream | undefined;
  #capture: Capture = DEFAULT_CAPTURE;
  #composition: Composition | undefined;
  #still: { track: MediaStreamTrack; stop(): void } | undefined;
  readonly #mix = new AudioMix();
  readonly #options: SourcesOptions;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: SourcesOptions) {
    super();
    this.#options = options;
  }

  get capture(): Capture {
    return this.#capture;
  }

  /** The screen pipeline in use, if any (its figures, for tests). */
  get composition(): Composition | undefined {
    return this.#composition;
  }

  /** Whether the screen is being captured. */
  get sharing(): boolean {
    return live(this.screen?.getVideoTracks()[0]);
  }

  /**
   * Show `kind`. With `openScreen: false` only the camera and microphone open (a preview before
   * going live: asking for the screen needs the user's click); `capture`: the settings what opens
   * is opened with. Throws when nothing usable opened; the previous output then stays.
   */
  use(kind: SourceKind, options: { openScreen?: boolean; capture?: Capture } = {}): Promise<void> {
    return this.#serial(() => {
      // New capture settings for what opens now; setCapture() applies them to what is open.
      if (options.capture) this.#capture = options.capture;
      return this.#apply(kind, options.openScreen ?? true);
    });
  }

  setCamera(id: string): Promise<void> {
    return this.#serial(() => this.#reopen('camera', id));
  }

  setMic(id: string): Promise<void> {
    return this.#serial(() => this.#reopen('mic', id));
  }

  setScreenAudio(on: boolean): Promise<void> {
    return this.#serial(async () => {
      this.screenAudio = on;
      await this.#apply(this.kind, false);
    });
  }

  /** New capture settings, applied to the devices that are open. */
  setCapture(capture: Capture): Promise<void> {
    return this.#serial(async () => {
      this.#capture = capture;
      const jobs: Promise<void>[] = [];
      if (this.camera) jobs.push(this.camera.applyConstraints(capture.camera));
      const screen = this.screen?.getVideoTracks()[0];
      if (screen) jobs.push(screen.applyConstraints(capture.screen));
      this.#composition?.setFrameRate(capture.fps);
      for (const r of await Promise.allSettled(jobs)) if (r.status === 'rejected') this.emit('warning', r.reason);
      if (this.output.video) this.output.video.contentHint = capture.contentHint;
    });
  }

  /** Stop sharing the screen (going off air); the camera preview, if any, stays. */
  endScreen(): Promise<void> {
    return this.#serial(async () => {
      this.#stopScreen();
      await this.#apply(this.kind, false);
    });
  }

  stop(): void {
    void this.#serial(async () => {
      this.#stopTrack('camera');
      this.#stopTrack('mic');
      this.#stopScreen();
      this.#composition?.stop();
      this.#composition = undefined;
      this.#still?.stop();
      this.#still = undefined;
      this.#mix.close();
      this.#setOutput({ video: null, audio: null });
    });
  }

  /** Another device of one kind: the new one opens, is sent, and then the old one closes. */
  async #reopen(which: 'camera' | 'mic', id: string): Promise<void> {
    const old = this[which];
    const oldId = which === 'camera' ? this.cameraId : this.micId;
    this[which] = undefined;
    if (which === 'camera') this.cameraId = id;
    else this.micId = id;
    try {
      await this.#apply(this.kind, false);
    } catch (err) {
      this[which] = old;
      if (which === 'camera') this.cameraId = oldId;
      else this.micId = oldId;
      throw err;
    }
    old?.stop();
  }

  #serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(job, job);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #apply(kind: SourceKind, openScreen: boolean): Promise<void> {
    const wantsScreen = kind !== 'camera';
    const wantsCamera = kind !== 'screen' && this.cameraId !== 'none';
    // Open what is missing first; nothing that is being sent closes until its successor is there.
    let screen = this.sharing ? this.screen : undefined;
    if (wantsScreen && !screen && openScreen) screen = await this.#openScreen();
    try {
      await this.#openUserMedia(wantsCamera && !live(this.camera), this.micId !== 'none' && !live(this.mic));
    } catch (err) {
      // The screen goes out without the corner camera rather than not at all.
      if (!screen) throw err;
      this.emit('warning', err);
    }
    const screenTrack = wantsScreen ? screen?.getVideoTracks()[0] : undefined;
    let video: MediaStreamTrack | null = null;
    let composition: Composition | undefined;
    if (screenTrack) {
      const corner = kind === 'screen+camera' ? (this.camera ?? null) : null;
      composition = this.#composition?.screen === screenTrack ? this.#composition : composeScreen(screenTrack, corner, this.#capture.fps, { canvas: this.#options.canvas });
      composition.setCamera(corner);
      video = composition.track;
    } else if (kind === 'camera' || (!openScreen && wantsCamera)) {
      // Before going live a screen source previews its corner camera, if any.
      video = this.camera ?? null;
    }
    const screenSound = wantsScreen && this.screenAudio ? screen?.getAudioTracks()[0] : undefined;
    const audio = this.#mix.output([this.mic, screenSound].filter((t): t is MediaStreamTrack => live(t)));
    if (video) video.contentHint = this.#capture.contentHint;

    const oldComposition = this.#composition;
    const oldStill = this.#still;
    this.kind = kind;
    this.screen = screen;
    this.#composition = composition;
    this.#still = undefined;
    this.#setOutput({ video, audio });
    // Now the old parts can go.
    if (oldComposition && oldComposition !== composition) oldComposition.stop();
    oldStill?.stop();
    if (!wantsCamera) this.#stopTrack('camera');
    if (!wantsScreen) this.#stopScreen();
  }

  /**
   * getDisplayMedia. Its errors carry `screen: true`, and `noGesture: true` when the browser
   * wants a click first (Firefox and Safari refuse a call that no click started).
   */
  async #openScreen(): Promise<MediaStream> {
    const activation = (navigator as { userActivation?: { isActive: boolean } }).userActivation;
    const clicked = activation ? activation.isActive : true;
    let stream: MediaStream;
    try {
      if (!navigator.mediaDevices?.getDisplayMedia) throw new DOMException('getDisplayMedia is missing', 'NotSupportedError');
      stream = await navigator.mediaDevices.getDisplayMedia({
        video: this.#capture.screen,
        audio: this.screenAudio,
        // Chromium's hints: offer system audio and tab switching, and not this very tab (a mirror).
        ...({ systemAudio: 'include', surfaceSwitching: 'include', selfBrowserSurface: 'exclude' } as object),
      });
    } catch (err) {
      const name = (err as DOMException)?.name;
      const noGesture = name === 'InvalidStateError' || name === 'InvalidAccessError' || (name === 'NotAllowedError' && !clicked);
      throw Object.assign(err as Error, { screen: true, noGesture });
    }
    const track = stream.getVideoTracks()[0];
    track?.addEventListener('ended', () => void this.#serial(() => this.#screenEnded(stream)));
    return stream;
  }

  /** The browser's "stop sharing": show the camera, or a still picture, rather than black. */
  async #screenEnded(stream: MediaStream): Promise<void> {
    if (this.screen !== stream) return;
    for (const t of stream.getTracks()) t.stop();
    if (this.kind === 'camera') return;
    let fallback: 'camera' | 'still' = 'camera';
    try {
      await this.#apply('camera', false);
    } catch (err) {
      this.emit('warning', err);
    }
    if (!this.output.video) {
      fallback = 'still';
      this.#still = stillFrame(this.#options.stillText);
      this.#setOutput({ video: this.#still.track, audio: this.output.audio });
    }
    this.emit('fallback', fallback);
  }

  /**
   * getUserMedia for the kinds asked. A machine may lack a kind (a camera without a microphone):
   * then it asks again for the kinds enumerateDevices lists, the default device of each.
   */
  async #openUserMedia(camera: boolean, mic: boolean): Promise<void> {
    if (!camera && !mic) return;
    const wanted = (yes: boolean, id: string): MediaTrackConstraints | false => (yes ? { ...(id ? { deviceId: { exact: id } } : {}) } : false);
    let video = wanted(camera, this.cameraId);
    let audio = wanted(mic, this.micId);
    const withCapture = (v: MediaTrackConstraints | false) => (v ? { ...this.#capture.camera, ...v } : false);
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: withCapture(video), audio });
    } catch (err) {
      const name = (err as DOMException)?.name;
      if (name === 'NotAllowedError' && video && audio) {
        // One kind blocked in the site's settings (a camera allowed, its microphone not): go on
        // with the other, as a video call does. Only on the permission's own word: a dismissed
        // prompt leaves both undecided and is not asked again.
        const blocked = await blockedKind();
        if (!blocked) throw err;
        if (blocked === 'camera') video = false;
        else audio = false;
        stream = await navigator.mediaDevices.getUserMedia({ video: withCapture(video), audio });
        this.emit('blocked', blocked);
        return this.#took(stream, camera, mic);
      }
      if (name !== 'NotFoundError' && name !== 'OverconstrainedError') throw err;
      const devices = await navigator.mediaDevices.enumerateDevices();
      const retry = (c: MediaTrackConstraints | false, kind: MediaDeviceKind, id: string): MediaTrackConstraints | false => {
        if (!c || !devices.some((d) => d.kind === kind)) return false;
        return devices.some((d) => d.kind === kind && (!id || !d.deviceId || d.deviceId === id)) ? c : {};
      };
      video = retry(video, 'videoinput', this.cameraId);
      audio = retry(audio, 'audioinput', this.micId);
      if (!video && !audio) throw err;
      stream = await navigator.mediaDevices.getUserMedia({ video: withCapture(video), audio });
    }
    this.#took(stream, camera, mic);
  }

  /** Keep what getUserMedia opened; a kind asked for and not opened counts as "none" from now on. */
  #took(stream: MediaStream, camera: boolean, mic: boolean): void {
    const v = stream.getVideoTracks()[0];
    const a = stream.getAudioTracks()[0];
    if (v) {
      this.#stopTrack('camera');
      this.camera = v;
    }
    if (a) {
      this.#stopTrack('mic');
      this.mic = a;
    }
    if (camera && !v) this.cameraId = 'none';
    if (mic && !a) this.micId = 'none';
  }

  #stopTrack(which: 'camera' | 'mic'): void {
    const track = this[which];
    if (!track) return;
    this[which] = undefined;
    track.stop();
  }

  #stopScreen(): void {
    for (const t of this.screen?.getTracks() ?? []) t.stop();
    this.screen = undefined;
  }

  #setOutput(output: Output): void {
    const changed = output.video !== this.output.video || output.audio !== this.output.audio;
    this.output = output;
    for (const t of this.preview.getTracks()) if (t !== output.video && t !== output.audio) this.preview.removeTrack(t);
    for (const t of [output.audio, output.video]) if (t && !this.preview.getTracks().includes(t)) this.preview.addTrack(t);
    if (changed) this.emit('output', output);
  }
}

function live(track: MediaStreamTrack | undefined): track is MediaStreamTrack {
  return track?.readyState === 'live';
}

/** One audio track from several: one input as it is, two or more mixed with WebAudio. */
class AudioMix {
  #ctx: AudioContext | undefined;
  #destination: MediaStreamAudioDestinationNode | undefined;
  #nodes: AudioNode[] = [];

  output(inputs: MediaStreamTrack[]): MediaStreamTrack | null {
    for (const node of this.#nodes) node.disconnect();
    this.#nodes = [];
    if (inputs.length === 0) return null;
    if (inputs.length === 1) return inputs[0];
    this.#ctx ??= new AudioContext();
    this.#destination ??= this.#ctx.createMediaStreamDestination();
    // A context made without a click may start suspended (autoplay rules); a click resumes it.
    void this.#ctx.resume().catch(() => undefined);
    for (const track of inputs) {
      const node = this.#ctx.createMediaStreamSource(new MediaStream([track]));
      node.connect(this.#destination);
      this.#nodes.push(node);
    }
    return this.#destination.stream.getAudioTracks()[0];
  }

  close(): void {
    for (const node of this.#nodes) node.disconnect();
    this.#nodes = [];
    void this.#ctx?.close().catch(() => undefined);
    this.#ctx = undefined;
    this.#destination = undefined;
  }
}

/** The one kind the site's permissions say is denied, when the other is not. */
async function blockedKind(): Promise<'camera' | 'microphone' | undefined> {
  const state = async (name: string) => {
    try {
      return (await navigator.permissions.query({ name: name as PermissionName })).state;
    } catch {
      return undefined; // this browser cannot say
    }
  };
  const [camera, microphone] = await Promise.all([state('camera'), state('microphone')]);
  if (camera === 'denied' && microphone !== 'denied') return 'camera';
  if (microphone === 'denied' && camera !== 'denied') return 'microphone';
  return undefined;
}
