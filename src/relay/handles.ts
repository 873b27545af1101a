/**
 * The handles the relay gives out (see api.ts): a Publication wraps a room's Publisher, a Consumer
 * wraps one viewer's leg (on the main thread or a worker). Closing is idempotent and cascades:
 * a publication closes its consumers, then says `closed`.
 */
import type { Logger } from 'pino';
import { RelayError, type Consumer, type ConsumerEvents, type IceCandidateInit, type Publication, type PublicationEvents, type QualityChoice } from './api.js';
import { Emitter } from './emitter.js';
import { LayerPauses } from './dynacast.js';
import { native } from './native.js';
import { PauseGate } from './pause-policy.js';
import { receiveBufferShortfall } from './receive-buffer.js';
import type { Publisher } from './publisher.js';
import type { Leg } from './workers.js';

/**
 * A publisher's media is dropped before werift (ingress-gate.ts) once nobody has consumed it for
 * this long: short, for the CPU, yet long enough that a viewer reloading the page finds the
 * recent keyframe still in the forwarder's history.
 */
export const GATE_AFTER_MS = 2_000;
/** How often a simulcast publisher's unwanted layers are looked at (dynacast.ts): resuming does not wait for it. */
const LAYERS_TICK_MS = 500;

/** The kernel's limit on receive buffers is told once per process, at the first publisher it limits. */
let warnedShortfall = false;

/** Mark a promise as handled (its holder may never await it) while it still rejects for those who do. */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

export class RelayPublication extends Emitter<PublicationEvents> implements Publication {
  readonly room: string;
  readonly answer: Promise<string>;
  readonly publisher: Publisher;
  readonly #consumers = new Set<RelayConsumer>();
  /** The height of the simulcast layer each consumer is sent (-1: none yet). */
  readonly #playing = new Map<RelayConsumer, number>();
  readonly #gate: PauseGate;
  /** When the publisher's media is dropped before werift: the pause policy, on a shorter clock, for every publisher. */
  readonly #ingress: PauseGate;
  /** A pausable simulcast publisher's layers nobody wants (dynacast.ts); undefined: it cannot be told, or has one layer. */
  #layers: LayerPauses | undefined;
  #layersTicker: NodeJS.Timeout | undefined;
  /** How long a layer may go unwanted before it is paused (0: never, or the publisher cannot be told). */
  readonly #layerAfterMs: number;
  readonly #held: () => boolean;
  readonly #logger: Logger;
  /** The layers (bit i: layer i) viewers on every thread are on or switching to: set by the relay. */
  layerDemand: () => number = () => this.publisher.forwarder.demand;
  #closed = false;

  /** `makePublisher` gets the callback its publisher must call when it closes on its own. */
  constructor(
    room: string,
    offerSdp: string,
    makePublisher: (onClose: () => void) => Publisher,
    pause: { pausable: boolean; afterMs: number; layerAfterMs: number; held: () => boolean },
    logger: Logger,
  ) {
    super();
    this.room = room;
    this.#layerAfterMs = pause.pausable ? pause.layerAfterMs : 0;
    this.#held = pause.held;
    this.#logger = logger;
    this.publisher = makePublisher(() => this.close());
    this.#gate = new PauseGate({
      enabled: pause.pausable,
      afterMs: pause.afterMs,
      held: pause.held,
      onChange: (paused, why) => {
        logger.info({ room }, paused ? `relay publisher paused: ${why}` : `relay publisher resumed: ${why}`);
        this.emit('paused', paused);
      },
    });
    this.#ingress = new PauseGate({
      // Without the native module werift decrypts, and must see every packet to keep its rollover counters.
      enabled: native !== undefined,
      afterMs: GATE_AFTER_MS,
      held: pause.held,
      onChange: (gated, why) => {
        const problem = this.publisher.gate(gated);
        if (problem) logger.warn({ room, why: problem }, 'relay publisher media not gated');
        else logger.info({ room }, gated ? `relay publisher media gated: ${why}` : `relay publisher media flows: ${why}`);
      },
    });
    this.publisher.onReady = () => {
      if (this.#closed) return;
      const buffer = this.publisher.receiveBuffer;
      logger.info(
        { room, codecs: Object.values(this.publisher.codecs).map((c) => c?.mimeType), readBy: this.publisher.readProblem ? 'node' : 'native', receiveBufferBytes: buffer?.got },
        'relay publisher live',
      );
      if (this.publisher.readProblem) logger.info({ room, why: this.publisher.readProblem }, 'relay publisher leg read by Node');
      const shortfall = buffer && receiveBufferShortfall(buffer);
      if (shortfall && !warnedShortfall) {
        warnedShortfall = true;
        logger.warn({ room, receiveBufferBytes: buffer.got }, shortfall);
      }
      this.#ingress.setReady();
      this.#gate.setReady();
      if (this.#layerAfterMs > 0 && this.publisher.rids.length > 1) {
        this.#layers = new LayerPauses(this.#layerAfterMs);
        this.#layersTicker = setInterval(() => this.layersChanged(), LAYERS_TICK_MS);
        this.#layersTicker.unref();
      }
      this.emit('ready');
    };
    this.answer = quiet(
      this.publisher.answer(offerSdp).catch((err: Error) => {
        this.close();
        throw new RelayError('bad-sdp', err.message);
      }),
    );
  }

  get ready(): boolean {
    return !this.#closed && this.publisher.ready;
  }

  get paused(): boolean {
    return this.#gate.paused;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async addCandidate(candidate: IceCandidateInit | null): Promise<void> {
    if (!this.#closed) await this.publisher.addCandidate(candidate).catch(() => undefined);
  }

  setWatched(watched: boolean): void {
    this.#ingress.setWatched(watched);
    this.#gate.setWatched(watched);
  }

  /**
   * Somebody is about to watch, or a recording started or stopped: let the media through and
   * resume a paused publisher ahead of their join, or start the countdowns again.
   */
  wake(): void {
    this.#ingress.wake();
    this.#gate.wake();
    this.layersChanged();
  }

  /**
   * The layers viewers want changed, or time passed: pause the layers nobody has wanted for a
   * while, resume those wanted again (dynacast.ts). The forwarders and workers learn of it from
   * the 'layers' event (the relay), the broadcaster from its holder.
   */
  layersChanged(): void {
    const pauses = this.#layers;
    if (!pauses || this.#closed) return;
    const layers = this.publisher.forwarder.layers;
    const ordered = layers.ordered();
    const mask = (keep: (l: (typeof ordered)[number]) => boolean) => ordered.reduce((m, l) => (keep(l) ? m | (1 << l.index) : m), 0);
    const facts = { wanted: this.layerDemand(), sending: mask((l) => l.active), kept: this.#held() ? 1 << layers.top() : 0 };
    if (!pauses.step(facts, Date.now())) return;
    const paused = ordered.filter((l) => pauses.paused & (1 << l.index));
    layers.setPaused(paused.map(({ index, bitsPerSecond, width, height }) => ({ index, bitsPerSecond, width, height })));
    const rids = paused.map((l) => l.rid);
    this.#logger.info({ room: this.room, paused: rids }, rids.length > 0 ? 'relay publisher layers paused: no viewer wants them' : 'relay publisher layers all sent');
    this.emit('layers', rids);
  }

  /** The rids of the layers the publisher is asked not to send now. */
  get pausedLayers(): string[] {
    return this.publisher.forwarder.layers
      .ordered()
      .filter((l) => l.paused)
      .map((l) => l.rid);
  }

  /** A consumer of this publication: it closes with it. */
  adopt(consumer: RelayConsumer): void {
    if (this.#closed) return consumer.close();
    this.#consumers.add(consumer);
    const off = consumer.on('playing', (p) => this.#playing.set(consumer, p.height));
    consumer.once('closed', () => {
      off();
      this.#consumers.delete(consumer);
      this.#playing.delete(consumer);
    });
  }

  /** How many consumers are sent the layer of each height. */
  viewersByHeight(): Map<number, number> {
    const out = new Map<number, number>();
    for (const h of this.#playing.values()) out.set(h, (out.get(h) ?? 0) + 1);
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#layersTicker);
    this.#ingress.stop();
    this.#gate.stop();
    this.publisher.close();
    for (const consumer of [...this.#consumers]) consumer.close();
    this.emit('closed');
  }
}

export class RelayConsumer extends Emitter<ConsumerEvents> implements Consumer {
  readonly id: string;
  readonly sdp: Promise<string>;
  readonly #leg: Leg;

  /** `makeLeg` gets the callback its leg calls once closed, whoever closed it. */
  constructor(makeLeg: (onClose: (leg: Leg) => void) => Leg, offerSdp: string | undefined) {
    super();
    this.#leg = makeLeg((leg) => this.emit('closed', leg.closeReason ?? 'closed'));
    this.id = this.#leg.id;
    const leg = this.#leg;
    leg.onPlaying = (playing) => this.emit('playing', { layers: playing.layers.map((l) => l.height), height: playing.height, reason: playing.reason });
    this.sdp = quiet(
      (offerSdp === undefined ? leg.offer() : leg.answer(offerSdp)).catch((err: Error) => {
        leg.close();
        throw err;
      }),
    );
  }

  get closed(): boolean {
    return this.#leg.closed;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.#leg.acceptAnswer(sdp);
  }

  async addCandidate(candidate: IceCandidateInit | null): Promise<void> {
    await this.#leg.addCandidate(candidate).catch(() => undefined);
  }

  setQuality(choice: QualityChoice, shown?: number): void {
    this.#leg.setQuality(choice, shown);
  }

  close(): void {
    this.#leg.close();
  }
}
