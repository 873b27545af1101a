/**
 * The media relay: per room, at most one publication (the publisher's leg) and its consumers (one
 * leg per viewer, on worker threads when there are workers). Its API is in api.ts:
 *
 *   const pub = relay.publish(room, offerSdp, { pausable })   // pub.answer: the relay's SDP answer
 *   pub.on('ready' | 'paused' | 'closed', ...)                 // media arrived / nobody watches / gone
 *   const leg = relay.consume(room)                            // the relay offers (leg.sdp), then
 *   await leg.acceptAnswer(answerSdp)                          //   takes the viewer's answer
 *   const player = relay.consume(room, offerSdp)               // or answers a player's offer (WHEP)
 *   pub.close()                                                // closes every consumer of it too
 *
 * Who the viewers are, and every signaling message, belong to the hub (src/signaling/relay-bridge.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { RelayError, type MediaRelay, type Publication } from './api.js';
import { LAYER_IDLE_MS } from './dynacast.js';
import { Emitter } from './emitter.js';
import { RelayConsumer, RelayPublication } from './handles.js';
import type { RelayIceOptions } from './ice.js';
import type { LinkSample } from './link.js';
import { LegPlacement } from './placement.js';
import { Publisher } from './publisher.js';
import { Subscriber } from './subscriber.js';
import { RelayWorkers, type Leg, type WorkerLoad } from './workers.js';

/**
 * A publisher with nobody watching for this long is asked to stop sending (when it can be asked:
 * the broadcast page can, a WHIP encoder cannot). Long enough that a viewer reloading the page
 * does not pause and resume the broadcaster's encoder. `--pause-after` changes it.
 */
export const PAUSE_AFTER_MS = 5_000;

export interface RelayRoomStats {
  inBitsPerSecond: number;
  outBitsPerSecond: number;
  /** The publisher was asked to stop sending: nobody is watching. */
  paused: boolean;
  /**
   * A simulcast publisher's layers, lowest first, and how many viewers are sent each. `active`:
   * it is being sent; `paused`: the relay asked the publisher to stop it, as nobody wanted it (it is
   * still offered, and resumed when a viewer picks it).
   */
  layers?: { rid: string; width: number; height: number; bitsPerSecond: number; viewers: number; active: boolean; paused: boolean }[];
}

export class Relay extends Emitter<{ live: [room: string] }> implements MediaRelay {
  readonly #ice: RelayIceOptions;
  readonly #logger: Logger;
  /** Each room's current publication. */
  readonly #rooms = new Map<string, RelayPublication>();
  /** Viewers' legs run on worker threads (none: on the main thread). */
  readonly #workers: RelayWorkers | undefined;
  /** Which thread each new viewer's leg goes to: the main thread first, workers as rooms grow. */
  readonly #placement = new LegPlacement();
  /** Live publishers by their source number (what the workers call them). */
  readonly #sources = new Map<number, Publisher>();
  /** 0: never pause a publisher. */
  readonly #pauseAfterMs: number;
  /** 0: never pause a layer (dynacast.ts). */
  readonly #layerPauseAfterMs: number;
  /** A room for which this says true is never paused, watched or not (it is being recorded). */
  keepSending: ((room: string) => boolean) | undefined;

  constructor(ice: RelayIceOptions, logger: Logger, workers = 0, pauseAfterMs = PAUSE_AFTER_MS, layerPauseAfterMs = LAYER_IDLE_MS) {
    super();
    this.#ice = ice;
    this.#pauseAfterMs = pauseAfterMs;
    this.#layerPauseAfterMs = layerPauseAfterMs;
    this.#logger = logger;
    this.#workers =
      workers > 0
        ? new RelayWorkers(
            workers,
            ice,
            logger,
            (src, layer) => this.#sources.get(src)?.requestKeyframe(layer),
            (src) => this.#publication(src)?.layersChanged(),
          )
        : undefined;
  }

  publish(room: string, offerSdp: string, options: { pausable?: boolean } = {}): Publication {
    this.#rooms.get(room)?.close();
    const workers = this.#workers;
    const publication = new RelayPublication(
      room,
      offerSdp,
      (onClose) => {
        const p: Publisher = new Publisher(this.#ice, () => {
          this.#sources.delete(p.source);
          onClose();
        });
        return p;
      },
      { pausable: options.pausable ?? false, afterMs: this.#pauseAfterMs, layerAfterMs: this.#layerPauseAfterMs, held: () => this.keepSending?.(room) ?? false },
      this.#logger,
    );
    const publisher = publication.publisher;
    this.#sources.set(publisher.source, publisher);
    if (workers) {
      publisher.onPacket = (kind, seq, ts, marker, payload, layer) => workers.forward(publisher.source, kind, seq, ts, marker, payload, layer);
      // A worker's viewers get each packet as it comes: then nothing is routed natively on this thread.
      publisher.everyPacketNow = () => workers.serves(publisher.source);
    }
    // Which layers viewers want, on this thread and the workers: the others may pause (dynacast.ts).
    publication.layerDemand = () => publisher.forwarder.demand | (workers?.demand(publisher.source) ?? 0);
    publisher.forwarder.onDemand = () => publication.layersChanged();
    if (workers) publication.on('layers', () => workers.setPaused(publisher.source, publisher.forwarder.layers.paused()));
    this.#rooms.set(room, publication);
    publication.once('ready', () => this.emit('live', room));
    publication.once('closed', () => {
      if (this.#rooms.get(room) === publication) this.#rooms.delete(room);
    });
    return publication;
  }

  consume(room: string, offerSdp?: string): RelayConsumer {
    const publication = this.#rooms.get(room);
    if (!publication?.ready) throw new RelayError('not-live', 'the room is not live');
    const consumer = new RelayConsumer((onClose) => this.#newLeg(publication.publisher, onClose), offerSdp);
    publication.adopt(consumer);
    return consumer;
  }

  /** The publication whose publisher is source `src`. */
  #publication(src: number): RelayPublication | undefined {
    for (const publication of this.#rooms.values()) if (publication.publisher.source === src) return publication;
    return undefined;
  }

  /** The room's live publisher, for what taps its media inside the relay (the recorder). */
  publisher(room: string): Publisher | undefined {
    return this.#rooms.get(room)?.publisher;
  }

  live(room: string, timeoutMs: number): Promise<boolean> {
    if (this.#rooms.get(room)?.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, timeoutMs);
      const off = this.on('live', (name) => {
        if (name !== room) return;
        clearTimeout(timer);
        off();
        resolve(true);
      });
    });
  }

  /**
   * Someone is opening the room's watch page: restart a paused publisher now, ~100 ms before
   * their join arrives, so the encoder's first keyframe is in by the time their leg connects. If
   * no join follows, the room pauses again after `pauseAfterMs`.
   */
  wake(room: string): void {
    this.#rooms.get(room)?.wake();
  }

  /** A viewer's leg of `publisher`: on the main thread while it has room, else on a worker. */
  #newLeg(publisher: Publisher, whenClosed: (leg: Leg) => void): Leg {
    const onClose = (leg: Leg) => {
      // A leg lancast did not close itself: the viewer vanished, or its connection never came up.
      if (leg.closeReason && leg.closeReason !== 'closed') this.#logger.info({ leg: leg.id, why: leg.closeReason }, 'relay viewer leg closed');
      whenClosed(leg);
    };
    const id = randomBytes(12).toString('base64url');
    const workers = this.#workers;
    if (!workers) return new Subscriber(id, publisher, this.#ice, onClose);
    if (!this.#placement.takeMain()) {
      const leg = workers.createLeg(id, publisher.source, publisher.codecs, publisher.rids.length, publisher.forwarder.layers.paused(), onClose);
      publisher.refreshRoutes();
      return leg;
    }
    if (this.#placement.workersSoon) workers.prepare();
    return new Subscriber(id, publisher, this.#ice, (leg) => {
      this.#placement.released();
      onClose(leg);
    });
  }

  stats(room: string): RelayRoomStats | undefined {
    const publication = this.#rooms.get(room);
    if (!publication) return undefined;
    const publisher = publication.publisher;
    return {
      inBitsPerSecond: publisher.received.bitsPerSecond,
      outBitsPerSecond: publisher.forwarder.sent.bitsPerSecond + (this.#workers?.bitsPerSecond(publisher.source) ?? 0),
      paused: publication.paused,
      ...(publisher.forwarder.simulcast ? { layers: this.#layers(publication) } : {}),
    };
  }

  #layers(publication: RelayPublication): NonNullable<RelayRoomStats['layers']> {
    const viewers = publication.viewersByHeight();
    const layers = publication.publisher.forwarder.layers;
    // What is received now: a paused layer's rate from before counts for choosing it, not here.
    return layers
      .ordered()
      .map(({ index, rid, width, height, active, paused }) => ({ rid, width, height, bitsPerSecond: layers.received(index), viewers: height > 0 ? (viewers.get(height) ?? 0) : 0, active, paused: paused === true }));
  }

  /** Simulcast layers the relay has asked publishers to stop sending (dynacast.ts), over all rooms. */
  pausedLayers(): number {
    let n = 0;
    for (const publication of this.#rooms.values()) n += publication.pausedLayers.length;
    return n;
  }

  /** Simulcast layers of every room, by height: bits per second received and viewers sent each. */
  layerTotals(): Map<number, { bitsPerSecond: number; viewers: number }> {
    const out = new Map<number, { bitsPerSecond: number; viewers: number }>();
    for (const publication of this.#rooms.values()) {
      if (!publication.publisher.forwarder.simulcast) continue;
      for (const l of this.#layers(publication)) {
        const t = out.get(l.height) ?? { bitsPerSecond: 0, viewers: 0 };
        t.bitsPerSecond += l.bitsPerSecond;
        t.viewers += l.viewers;
        out.set(l.height, t);
      }
    }
    return out;
  }

  /** The link estimates of every simulcast viewer that has one, on the main thread and the workers alike. */
  viewerLinks(): LinkSample[] {
    const main = [...this.#rooms.values()].flatMap((p) => p.publisher.forwarder.links());
    return [...main, ...(this.#workers?.links() ?? [])];
  }

  /** Each relay worker's legs and busy share (empty without workers). */
  workerLoad(): WorkerLoad[] {
    return this.#workers?.load() ?? [];
  }

  close(): void {
    for (const publication of [...this.#rooms.values()]) publication.close();
    void this.#workers?.close();
  }
}
