/**
 * The media relay: per room, one publisher leg and one leg per viewer. The hub decides which
 * rooms are relayed and routes the signaling addressed to the relay (`RELAY_PEER_ID`) here.
 *
 * Flow for a room: the broadcaster offers to the relay -> `publish()` answers; once the first
 * packets show which codecs it sends, every viewer waiting gets a subscriber leg -> the relay offers
 * to the viewer (`offer` from `relay`), the viewer answers, media flows.
 */
import type { Logger } from 'pino';
import type { Peer } from '../signaling/peer.js';
import type { IceCandidate } from '../signaling/protocol.js';
import type { RelayIceOptions } from './ice.js';
import { Publisher } from './publisher.js';
import { Subscriber } from './subscriber.js';
import { RelayWorkers, type Leg, type WorkerLoad } from './workers.js';
import { newPeerId } from '../signaling/peer.js';

/** The relay's peer id in signaling messages. */
export const RELAY_PEER_ID = 'relay';

/**
 * A publisher with nobody watching for this long is asked to stop sending (when it can be asked:
 * the broadcast page can, a WHIP encoder cannot). Long enough that a viewer reloading the page
 * does not pause and resume the broadcaster's encoder. `--pause-after` changes it.
 */
export const PAUSE_AFTER_MS = 5_000;

export interface RelayRoomStats {
  publishing: boolean;
  subscribers: number;
  /** WHEP players (viewers without a signaling socket). */
  players: number;
  inBitsPerSecond: number;
  outBitsPerSecond: number;
  /** The publisher was asked to stop sending: nobody is watching. */
  paused: boolean;
}

class RelayRoom {
  readonly name: string;
  publisher: Publisher | undefined;
  /** The connection id of the broadcaster's publishing connection. */
  publisherCid: string | undefined;
  /** Subscriber legs by viewer peer id. */
  readonly subscribers = new Map<string, Leg>();
  /** Every viewer the relay serves, with or without a leg right now. */
  readonly viewers = new Map<string, Peer>();
  /** Standalone subscribers (WHEP), by their resource id. */
  readonly players = new Map<string, Leg>();
  /** Tells the publisher to stop (true) or resume (false) sending; absent when it cannot be told. */
  pauseSender: ((paused: boolean) => void) | undefined;
  paused = false;
  pauseTimer: NodeJS.Timeout | undefined;

  constructor(name: string) {
    this.name = name;
  }

  get watched(): boolean {
    return this.viewers.size + this.players.size > 0;
  }
}

export class Relay {
  readonly #ice: RelayIceOptions;
  readonly #logger: Logger;
  readonly #rooms = new Map<string, RelayRoom>();
  /** Viewers' legs run on worker threads (none: on the main thread). */
  readonly #workers: RelayWorkers | undefined;
  /** Live publishers by their source number (what the workers call them). */
  readonly #sources = new Map<number, Publisher>();

  /** 0: never pause a publisher. */
  readonly #pauseAfterMs: number;
  /** Told of each publisher once its media flows (the recorder taps it). */
  onPublisherLive: ((room: string, publisher: Publisher) => void) | undefined;
  /** A room for which this says true is never paused, watched or not (it is being recorded). */
  keepSending: ((room: string) => boolean) | undefined;

  constructor(ice: RelayIceOptions, logger: Logger, workers = 0, pauseAfterMs = PAUSE_AFTER_MS) {
    this.#ice = ice;
    this.#pauseAfterMs = pauseAfterMs;
    this.#logger = logger;
    this.#workers =
      workers > 0 ? new RelayWorkers(workers, ice, logger, (src) => this.#sources.get(src)?.requestKeyframe()) : undefined;
  }

  /** A viewer's leg of `publisher`: on a worker thread when there are workers. */
  #newLeg(publisher: Publisher, whenClosed: (leg: Leg) => void): Leg {
    const onClose = (leg: Leg) => {
      // A leg lancast did not close itself: the viewer vanished, or its connection never came up.
      if (leg.closeReason && leg.closeReason !== 'closed') this.#logger.info({ leg: leg.id, why: leg.closeReason }, 'relay viewer leg closed');
      whenClosed(leg);
    };
    const id = newPeerId();
    if (this.#workers) return this.#workers.createLeg(id, publisher.source, publisher.codecs, onClose);
    return new Subscriber(id, publisher, this.#ice, onClose);
  }

  stats(room: string): RelayRoomStats | undefined {
    const r = this.#rooms.get(room);
    if (!r) return undefined;
    return {
      publishing: r.publisher?.ready ?? false,
      subscribers: r.subscribers.size + r.players.size,
      players: r.players.size,
      inBitsPerSecond: r.publisher?.received.bitsPerSecond ?? 0,
      outBitsPerSecond: (r.publisher?.forwarder.sent.bitsPerSecond ?? 0) + (r.publisher ? (this.#workers?.bitsPerSecond(r.publisher.source) ?? 0) : 0),
      paused: r.paused,
    };
  }

  publisher(room: string): Publisher | undefined {
    return this.#rooms.get(room)?.publisher;
  }

  #room(name: string): RelayRoom {
    let room = this.#rooms.get(name);
    if (!room) {
      room = new RelayRoom(name);
      this.#rooms.set(name, room);
    }
    return room;
  }

  /**
   * A publisher's offer (from the broadcast page over /ws, or WHIP). Replaces any previous
   * publisher of the room. Resolves with the answer; viewers are served once media arrives.
   * `pauseSender`, when given, is called to stop the publisher's sending while nobody watches
   * (after `pauseAfterMs`) and to resume it when somebody comes.
   */
  async publish(roomName: string, cid: string, offerSdp: string, onClose: () => void, pauseSender?: (paused: boolean) => void): Promise<string> {
    const room = this.#room(roomName);
    room.publisher?.close();
    this.#stopPausing(room);
    room.pauseSender = pauseSender;
    const publisher = new Publisher(this.#ice, () => {
      this.#sources.delete(publisher.source);
      if (room.publisher !== publisher) return;
      room.publisher = undefined;
      room.publisherCid = undefined;
      this.#stopPausing(room);
      for (const sub of [...room.subscribers.values(), ...room.players.values()]) sub.close();
      onClose();
    });
    room.publisher = publisher;
    room.publisherCid = cid;
    this.#sources.set(publisher.source, publisher);
    const workers = this.#workers;
    workers?.prepare();
    if (workers) publisher.onPacket = (kind, seq, ts, marker, payload) => workers.forward(publisher.source, kind, seq, ts, marker, payload);
    try {
      const answer = await publisher.answer(offerSdp);
      void publisher.whenReady().then((ready) => {
        if (!ready || room.publisher !== publisher) return;
        this.#logger.info({ room: roomName, codecs: Object.values(publisher.codecs).map((c) => c?.mimeType) }, 'relay publisher live');
        for (const viewer of room.viewers.values()) {
          if (!room.subscribers.has(viewer.id)) void this.#subscribe(roomName, room, viewer);
        }
        this.#updateDemand(room);
        this.onPublisherLive?.(roomName, publisher);
      });
      return answer;
    } catch (err) {
      publisher.close();
      throw err;
    }
  }

  async publisherCandidate(roomName: string, cid: string, candidate: IceCandidate | null): Promise<void> {
    const room = this.#rooms.get(roomName);
    if (room?.publisher && room.publisherCid === cid) await room.publisher.addCandidate(candidate).catch(() => undefined);
  }

  /**
   * Stop relaying a room's publisher. With a `cid` (the broadcaster hung up that connection) the
   * relay keeps its viewers for the next publish; without one (the broadcaster left, or the room
   * went back to p2p) it forgets them too: the hub hands them over again when it needs to.
   */
  unpublish(roomName: string, cid?: string): void {
    const room = this.#rooms.get(roomName);
    if (!room || (cid !== undefined && room.publisherCid !== cid)) return;
    room.publisher?.close();
    this.#stopPausing(room);
    if (cid === undefined) room.viewers.clear();
    this.#cleanup(roomName);
  }

  /**
   * Pause the publisher once nobody has watched for `pauseAfterMs`; resume it at once when
   * somebody does. Called whenever viewers or players come and go, and when the publisher is ready.
   */
  #updateDemand(room: RelayRoom): void {
    const publisher = room.publisher;
    if (!publisher || !room.pauseSender || this.#pauseAfterMs === 0) return;
    if (room.watched || this.keepSending?.(room.name)) {
      clearTimeout(room.pauseTimer);
      room.pauseTimer = undefined;
      if (room.paused) this.#resume(room, 'somebody is watching');
      return;
    }
    if (room.paused || room.pauseTimer || !publisher.ready) return;
    room.pauseTimer = setTimeout(() => {
      room.pauseTimer = undefined;
      if (room.publisher !== publisher || publisher.closed || room.watched || this.keepSending?.(room.name)) return;
      room.paused = true;
      room.pauseSender?.(true);
      this.#logger.info({ room: room.name }, 'relay publisher paused: nobody is watching');
    }, this.#pauseAfterMs);
    room.pauseTimer.unref();
  }

  #resume(room: RelayRoom, why: string): void {
    room.paused = false;
    room.pauseSender?.(false);
    this.#logger.info({ room: room.name }, `relay publisher resumed: ${why}`);
  }

  /**
   * Someone is opening the room's watch page: restart a paused publisher now, ~100 ms before
   * their join arrives, so the encoder's first keyframe is in by the time their leg connects. If
   * no join follows, the room pauses again after `pauseAfterMs`.
   */
  wake(roomName: string): void {
    const room = this.#rooms.get(roomName);
    if (!room?.paused) return;
    this.#resume(room, 'a watch page is opening');
    this.#updateDemand(room);
  }

  /** The room's publisher is gone or replaced: its pause state goes with it. */
  #stopPausing(room: RelayRoom): void {
    clearTimeout(room.pauseTimer);
    room.pauseTimer = undefined;
    room.paused = false;
    room.pauseSender = undefined;
  }

  /** Serve a viewer from the relay, now or once the publisher is ready. */
  addViewer(roomName: string, viewer: Peer): void {
    const room = this.#room(roomName);
    room.viewers.set(viewer.id, viewer);
    this.#updateDemand(room);
    if (room.publisher?.ready) void this.#subscribe(roomName, room, viewer);
  }

  removeViewer(roomName: string, viewerId: string): void {
    const room = this.#rooms.get(roomName);
    if (!room) return;
    room.viewers.delete(viewerId);
    room.subscribers.get(viewerId)?.close();
    this.#updateDemand(room);
    this.#cleanup(roomName);
  }

  async #subscribe(roomName: string, room: RelayRoom, viewer: Peer): Promise<void> {
    const publisher = room.publisher;
    if (!publisher || publisher.closed) return;
    room.subscribers.get(viewer.id)?.close();
    const sub = this.#newLeg(publisher, (s) => {
      if (room.subscribers.get(viewer.id) === s) room.subscribers.delete(viewer.id);
    });
    room.subscribers.set(viewer.id, sub);
    try {
      const sdp = await sub.offer();
      if (sub.closed) return;
      viewer.send({ type: 'offer', from: RELAY_PEER_ID, cid: sub.id, sdp });
    } catch (err) {
      this.#logger.warn({ room: roomName, err: (err as Error).message }, 'relay could not offer to a viewer');
      sub.close();
    }
  }

  /** A viewer's answer, candidate, restart or hangup addressed to the relay. */
  async fromViewer(
    roomName: string,
    viewer: Peer,
    msg: { type: 'answer'; cid: string; sdp: string } | { type: 'candidate'; cid: string; candidate: IceCandidate | null } | { type: 'restart' } | { type: 'hangup'; cid: string },
  ): Promise<void> {
    const room = this.#rooms.get(roomName);
    if (!room) return;
    const sub = room.subscribers.get(viewer.id);
    switch (msg.type) {
      case 'answer':
        if (sub?.id !== msg.cid) return;
        try {
          await sub.acceptAnswer(msg.sdp);
        } catch (err) {
          viewer.error('bad-message', `the relay could not use that answer: ${(err as Error).message}`, 'answer');
          sub.close();
        }
        return;
      case 'candidate':
        if (sub?.id === msg.cid) await sub.addCandidate(msg.candidate).catch(() => undefined);
        return;
      case 'restart':
        if (room.viewers.has(viewer.id) && room.publisher?.ready) void this.#subscribe(roomName, room, viewer);
        return;
      case 'hangup':
        if (sub?.id === msg.cid) sub.close();
        return;
    }
  }

  /**
   * WHEP: a standalone player's offer. Waits (a few seconds at most) for the publisher when the
   * room is just moving to the relay. Resolves with the answer and the player's resource id.
   */
  async play(roomName: string, offerSdp: string, onClose: () => void): Promise<{ id: string; answer: string }> {
    const deadline = Date.now() + 8_000;
    let publisher = this.#rooms.get(roomName)?.publisher;
    while (!publisher?.ready && Date.now() < deadline) {
      await (publisher ? publisher.whenReady(deadline - Date.now()) : new Promise((r) => setTimeout(r, 50)));
      publisher = this.#rooms.get(roomName)?.publisher;
    }
    const room = this.#rooms.get(roomName);
    if (!room || !publisher?.ready) throw new RelayError('not-live', 'the room is not live');
    const sub = this.#newLeg(publisher, (s) => {
      if (!room.players.delete(s.id)) return;
      this.#updateDemand(room);
      onClose();
    });
    room.players.set(sub.id, sub);
    this.#updateDemand(room);
    try {
      return { id: sub.id, answer: await sub.answer(offerSdp) };
    } catch (err) {
      sub.close();
      throw new RelayError('bad-sdp', (err as Error).message);
    }
  }

  stopPlayer(roomName: string, id: string): boolean {
    const sub = this.#rooms.get(roomName)?.players.get(id);
    if (!sub) return false;
    sub.close();
    return true;
  }

  #cleanup(roomName: string): void {
    const room = this.#rooms.get(roomName);
    if (room && !room.publisher && room.subscribers.size === 0 && room.viewers.size === 0 && room.players.size === 0) {
      this.#rooms.delete(roomName);
    }
  }

  /** Each relay worker's legs and busy share (empty without workers). */
  workerLoad(): WorkerLoad[] {
    return this.#workers?.load() ?? [];
  }

  /** How many worker threads carry viewers' legs now (0: the main thread does). */
  get workerThreads(): number {
    return this.#workers?.threads ?? 0;
  }

  close(): void {
    for (const [name, room] of this.#rooms) {
      this.#stopPausing(room);
      room.publisher?.close();
      for (const sub of [...room.subscribers.values(), ...room.players.values()]) sub.close();
      this.#rooms.delete(name);
    }
    void this.#workers?.close();
  }
}

export class RelayError extends Error {
  readonly code: 'not-live' | 'bad-sdp';
  constructor(code: 'not-live' | 'bad-sdp', message: string) {
    super(message);
    this.code = code;
  }
}
