/**
 * The main thread's side of the relay workers: it starts them (lazily, on the first viewer),
 * puts each new viewer's leg on the least loaded one, forwards each publisher packet once to each
 * worker that has viewers of it, and folds the workers' counters into the process's.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { MediaKind } from './codecs.js';
import { LEG_COUNTERS, relayCounters } from './forwarder.js';
import type { RelayIceOptions } from './ice.js';
import type { Playing, QualityChoice } from './layer-selector.js';
import type { PausedLayer } from './layers.js';
import type { LinkSample } from './link.js';
import { codecsToData, type Candidate, type Codecs, type FromWorker, type ToWorker, type WorkerInit } from './worker-protocol.js';

export interface WorkerLoad {
  worker: number;
  legs: number;
  utilization: number;
  cpuSeconds: number;
  threadId: number;
}

/** What the relay needs of a viewer's leg, wherever it runs. */
export interface Leg {
  readonly id: string;
  readonly closed: boolean;
  /** Why the leg closed, once it has: 'closed' when lancast closed it, else what went wrong. */
  readonly closeReason: string | undefined;
  offer(): Promise<string>;
  acceptAnswer(sdp: string): Promise<void>;
  answer(offerSdp: string): Promise<string>;
  addCandidate(candidate: Candidate | null): Promise<void>;
  /** The viewer's wish among simulcast layers, and how tall its player shows the picture (device pixels). */
  setQuality(choice: QualityChoice, shown?: number): void;
  /** Told which simulcast layer plays, and why, when that changes. */
  onPlaying: ((playing: Playing) => void) | undefined;
  close(): void;
}

/** The worker script next to this module: built JavaScript, or (from a checkout) TypeScript through tsx. */
function newWorker(init: WorkerInit): Worker {
  const js = new URL('./relay-worker.js', import.meta.url);
  const options = { workerData: init, name: `lancast-relay-${init.index}` };
  if (existsSync(fileURLToPath(js))) return new Worker(js, options);
  const ts = new URL('./relay-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(ts)}); })`, { ...options, eval: true });
}

class Slot {
  readonly worker: Worker;
  readonly legs = new Map<string, RemoteLeg>();
  /** Legs per source, to know where each publisher's packets must go. */
  readonly sources = new Map<number, number>();
  readonly bitsPerSecond = new Map<number, number>();
  /** Per source, the simulcast layers its viewers here are on or switching to (bit i: layer i). */
  readonly demand = new Map<number, number>();
  /** Its simulcast viewers' link estimates, as of its last report. */
  links: LinkSample[] = [];
  /** The share of the last second this worker was busy (0..1). */
  utilization = 0;
  /** CPU time this worker thread has used, in seconds (Linux; 0 elsewhere). */
  cpuSeconds = 0;
  /** The worker's Linux thread id, once it is ready (0 before, or elsewhere). */
  threadId = 0;
  readonly index: number;
  readonly #pending = new Map<number, { resolve: (v: string | undefined) => void; reject: (e: Error) => void }>();
  #nextReq = 1;
  #keyframe: (src: number, layer: number) => void;
  #onDemand: (src: number) => void;
  dead = false;

  constructor(init: WorkerInit, logger: Logger, keyframe: (src: number, layer: number) => void, onDemand: (src: number) => void) {
    this.#keyframe = keyframe;
    this.#onDemand = onDemand;
    this.index = init.index;
    this.worker = newWorker(init);
    this.worker.on('message', (m: FromWorker) => this.#onMessage(m, logger));
    this.worker.on('error', (err) => logger.error({ err: err.message, worker: init.index }, 'relay worker failed'));
    this.worker.on('exit', () => {
      this.dead = true;
      for (const p of this.#pending.values()) p.reject(new Error('the relay worker stopped'));
      this.#pending.clear();
      for (const leg of [...this.legs.values()]) leg.closedByWorker('its relay worker stopped');
      const sources = [...this.demand.keys()];
      this.demand.clear();
      for (const src of sources) this.#onDemand(src);
    });
  }

  #onMessage(m: FromWorker, logger: Logger): void {
    switch (m.t) {
      case 'ready':
        this.threadId = m.threadId;
        logger.debug({ egress: m.egress, threadId: m.threadId }, 'relay worker ready');
        return;
      case 'reply': {
        const p = this.#pending.get(m.req);
        this.#pending.delete(m.req);
        if (m.ok) p?.resolve(m.value);
        else p?.reject(new Error(m.error));
        return;
      }
      case 'keyframe':
        this.#keyframe(m.src, m.layer);
        return;
      case 'demand':
        if (m.layers === 0) this.demand.delete(m.src);
        else this.demand.set(m.src, m.layers);
        this.#onDemand(m.src);
        return;
      case 'playing':
        this.legs.get(m.id)?.onPlaying?.(m.playing);
        return;
      case 'closed':
        this.legs.get(m.id)?.closedByWorker(m.reason);
        return;
      case 'stats':
        for (const k of LEG_COUNTERS) relayCounters[k] += m.counts[k];
        this.links = m.links;
        this.utilization = m.utilization;
        this.cpuSeconds = m.cpuSeconds;
        this.bitsPerSecond.clear();
        for (const [src, bps] of Object.entries(m.bitsPerSecond)) this.bitsPerSecond.set(Number(src), bps);
        return;
    }
  }

  post(m: ToWorker): void {
    if (!this.dead) this.worker.postMessage(m);
  }

  request(m: ToWorker & { req: number }): Promise<string | undefined> {
    if (this.dead) return Promise.reject(new Error('the relay worker stopped'));
    return new Promise((resolve, reject) => {
      this.#pending.set(m.req, { resolve, reject });
      this.worker.postMessage(m);
    });
  }

  nextReq(): number {
    return this.#nextReq++;
  }
}

class RemoteLeg implements Leg {
  readonly id: string;
  readonly #slot: Slot;
  readonly #src: number;
  readonly #onClose: (leg: RemoteLeg) => void;
  #closed = false;
  closeReason: string | undefined;
  onPlaying: ((playing: Playing) => void) | undefined;

  constructor(id: string, slot: Slot, src: number, onClose: (leg: RemoteLeg) => void) {
    this.id = id;
    this.#slot = slot;
    this.#src = src;
    this.#onClose = onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async offer(): Promise<string> {
    return (await this.#slot.request({ t: 'offer', req: this.#slot.nextReq(), id: this.id }))!;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.#slot.request({ t: 'answer', req: this.#slot.nextReq(), id: this.id, sdp });
  }

  async answer(offerSdp: string): Promise<string> {
    return (await this.#slot.request({ t: 'whep', req: this.#slot.nextReq(), id: this.id, sdp: offerSdp }))!;
  }

  async addCandidate(candidate: Candidate | null): Promise<void> {
    if (candidate?.candidate) this.#slot.post({ t: 'candidate', id: this.id, candidate });
  }

  setQuality(choice: QualityChoice, shown?: number): void {
    if (!this.#closed) this.#slot.post({ t: 'quality', id: this.id, choice, shown });
  }

  close(): void {
    if (this.#closed) return;
    this.#slot.post({ t: 'close', id: this.id });
    this.closeReason = 'closed';
    this.#finish();
  }

  /** The worker closed the leg (its viewer vanished or failed), or the worker itself stopped. */
  closedByWorker(reason: string): void {
    this.closeReason ??= reason;
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    const slot = this.#slot;
    slot.legs.delete(this.id);
    const n = (slot.sources.get(this.#src) ?? 1) - 1;
    if (n > 0) slot.sources.set(this.#src, n);
    else slot.sources.delete(this.#src);
    this.#onClose(this);
  }
}

export class RelayWorkers {
  readonly count: number;
  readonly #slots: Slot[] = [];
  readonly #ice: RelayIceOptions;
  readonly #logger: Logger;
  readonly #keyframe: (src: number, layer: number) => void;
  readonly #onDemand: (src: number) => void;

  /** `onDemand(src)`: the layers the viewers of source `src` want changed on some worker (see demand()). */
  constructor(count: number, ice: RelayIceOptions, logger: Logger, keyframe: (src: number, layer: number) => void, onDemand: (src: number) => void = () => undefined) {
    this.count = count;
    this.#ice = ice;
    this.#logger = logger;
    this.#keyframe = keyframe;
    this.#onDemand = onDemand;
  }

  /**
   * Start every worker (a relay publisher is about to have viewers): each loads werift and warms
   * it up once, so the first viewer does not wait for a thread to boot.
   */
  prepare(): void {
    for (let i = 0; i < this.#slots.length; i++) {
      if (this.#slots[i].dead) this.#slots.splice(i--, 1);
    }
    while (this.#slots.length < this.count) {
      const used = new Set(this.#slots.map((s) => s.index));
      let index = 0;
      while (used.has(index)) index++;
      this.#slots.push(new Slot({ ice: this.#ice, index }, this.#logger, this.#keyframe, this.#onDemand));
    }
  }

  /** A new viewer's leg of source `src` (`paused`: its layers paused now), on the worker with the fewest legs. */
  createLeg(id: string, src: number, codecs: Codecs, layers: number, paused: PausedLayer[], onClose: (leg: Leg) => void): Leg {
    this.prepare();
    const slot = this.#slots.reduce((a, b) => (b.legs.size < a.legs.size ? b : a));
    const leg = new RemoteLeg(id, slot, src, onClose);
    slot.legs.set(id, leg);
    slot.sources.set(src, (slot.sources.get(src) ?? 0) + 1);
    slot.post({ t: 'create', id, src, codecs: codecsToData(codecs), layers, paused });
    return leg;
  }

  /** One publisher packet, once to each worker with viewers of it (the payload is copied). */
  forward(src: number, kind: MediaKind, seq: number, ts: number, marker: boolean, payload: Uint8Array, layer: number): void {
    for (const slot of this.#slots) {
      if (slot.sources.has(src)) slot.post({ t: 'rtp', src, kind, seq, ts, marker, payload, layer });
    }
  }

  /** Whether a worker has viewers of source `src` (each of its packets is posted there as it comes). */
  serves(src: number): boolean {
    return this.#slots.some((s) => s.sources.has(src));
  }

  /** A source's paused layers changed (dynacast.ts): every worker with viewers of it learns. */
  setPaused(src: number, paused: PausedLayer[]): void {
    for (const slot of this.#slots) {
      if (slot.sources.has(src)) slot.post({ t: 'paused', src, layers: paused });
    }
  }

  /** The layers the viewers of source `src` want on all workers (bit i: layer i). */
  demand(src: number): number {
    return this.#slots.reduce((mask, s) => mask | (s.demand.get(src) ?? 0), 0);
  }

  bitsPerSecond(src: number): number {
    return this.#slots.reduce((sum, s) => sum + (s.bitsPerSecond.get(src) ?? 0), 0);
  }

  /** The simulcast viewers' link estimates on every running worker, as of each one's last report. */
  links(): LinkSample[] {
    return this.#slots.filter((s) => !s.dead).flatMap((s) => s.links);
  }

  get threads(): number {
    return this.#slots.length;
  }

  /** Each running worker's viewers and how busy it was over the last second. */
  load(): WorkerLoad[] {
    return this.#slots.map((s) => ({ worker: s.index, legs: s.legs.size, utilization: s.utilization, cpuSeconds: s.cpuSeconds, threadId: s.threadId }));
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.splice(0).map((s) => s.worker.terminate()));
  }
}
