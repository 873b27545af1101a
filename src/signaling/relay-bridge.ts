/**
 * Between the hub and the relay: which viewer watches through which consumer, and every message
 * that speaks for the relay (its offers to viewers, pauses, paused layers and hangups to the
 * broadcaster, errors).
 * The relay itself sends nothing and knows no peers; the hub decides who is relayed.
 */
import type { Logger } from 'pino';
import { RelayError, type Consumer, type IceCandidateInit, type MediaRelay, type Publication } from '../relay/api.js';
import { newPeerId, type Peer } from './peer.js';
import type { ClientMessage } from './protocol.js';
import { RELAY_PEER_ID } from './relay-peer.js';
import type { Room } from './room.js';

/** How long a WHEP player waits for a room that is just moving to the relay. */
const PLAY_WAIT_MS = 8_000;

/** The relay's side of one room, for as long as its publication lasts. */
interface Session {
  readonly publication: Publication;
  /** The broadcaster's name for its publishing connection. */
  readonly cid: string;
  /** Each relayed viewer's consumer, by viewer id. */
  readonly legs: Map<string, Consumer>;
}

type FromViewer = Extract<ClientMessage, { type: 'answer' | 'candidate' | 'restart' | 'hangup' | 'quality' }>;

export class RelayBridge {
  readonly #relay: MediaRelay;
  readonly #logger: Logger;
  readonly #sessions = new Map<Room, Session>();

  constructor(relay: MediaRelay, logger: Logger) {
    this.#relay = relay;
    this.#logger = logger;
  }

  /**
   * The broadcaster offers to the relay (its page, or WHIP): publish, replacing any earlier
   * publication of the room. The answer goes back by whoever asked; pauses and the loss of the
   * media are told to the broadcaster here.
   */
  publish(room: Room, broadcaster: Peer, cid: string, sdp: string, pausable: boolean): Publication {
    const publication = this.#relay.publish(room.name, sdp, { pausable });
    const session: Session = { publication, cid, legs: new Map() };
    this.#sessions.set(room, session);
    publication.on('paused', (paused) => {
      if (broadcaster.room === room) broadcaster.send({ type: 'pause', from: RELAY_PEER_ID, cid, paused });
    });
    // A WHIP publisher cannot be told (it is not pausable): the relay pauses no layer of it.
    publication.on('layers', (paused) => {
      if (broadcaster.room === room) broadcaster.send({ type: 'layers', from: RELAY_PEER_ID, cid, paused });
    });
    publication.on('ready', () => {
      if (this.#sessions.get(room) !== session) return;
      for (const viewer of room.viewers.values()) if (!session.legs.has(viewer.id)) this.#offer(room, session, viewer);
      this.#demand(room);
    });
    publication.on('closed', () => {
      if (this.#sessions.get(room) !== session) return;
      this.#sessions.delete(room);
      // The relay lost the broadcaster's media (or dropped it): the broadcaster may publish again.
      if (room.broadcaster === broadcaster && room.mode === 'relay') broadcaster.send({ type: 'hangup', from: RELAY_PEER_ID, cid });
    });
    this.#demand(room);
    return publication;
  }

  publisherCandidate(room: Room, cid: string, candidate: IceCandidateInit | null): void {
    const session = this.#sessions.get(room);
    if (session?.cid === cid) void session.publication.addCandidate(candidate);
  }

  /**
   * Stop relaying the room's publisher: the broadcaster hung up connection `cid`, or (no `cid`)
   * it left, was replaced, or the room went back to p2p.
   */
  unpublish(room: Room, cid?: string): void {
    const session = this.#sessions.get(room);
    if (session && (cid === undefined || session.cid === cid)) session.publication.close();
  }

  /** A viewer of a relayed room: the relay offers to it now, or once the publication is ready. */
  serve(room: Room, viewer: Peer): void {
    this.#demand(room);
    const session = this.#sessions.get(room);
    if (session?.publication.ready) this.#offer(room, session, viewer);
  }

  /** A viewer left the room (it is no longer among `room.viewers`). */
  drop(room: Room, viewerId: string): void {
    this.#sessions.get(room)?.legs.get(viewerId)?.close();
    this.#demand(room);
  }

  /** A viewer's answer, candidate, restart or hangup addressed to the relay. */
  fromViewer(room: Room, viewer: Peer, msg: FromViewer): void {
    const session = this.#sessions.get(room);
    if (!session) return;
    const leg = session.legs.get(viewer.id);
    switch (msg.type) {
      case 'answer':
        if (leg?.id !== msg.cid) return;
        leg.acceptAnswer(msg.sdp).catch((err: Error) => {
          viewer.error('bad-message', `the relay could not use that answer: ${err.message}`, 'answer');
          leg.close();
        });
        return;
      case 'candidate':
        if (leg?.id === msg.cid) void leg.addCandidate(msg.candidate);
        return;
      case 'restart':
        if (room.viewers.has(viewer.id) && session.publication.ready) this.#offer(room, session, viewer);
        return;
      case 'hangup':
        if (leg?.id === msg.cid) leg.close();
        return;
      case 'quality':
        if (leg?.id === msg.cid) leg.setQuality(msg.choice, msg.shown);
        return;
    }
  }

  /**
   * A WHEP player's offer. It counts among the room's players at once (`changed` lets the hub move
   * the room to the relay), waits a few seconds at most for the room's publication, and leaves the
   * count when its consumer closes or it fails. Rejects with a RelayError.
   */
  async play(room: Room, offerSdp: string, changed: () => void): Promise<{ id: string; answer: string }> {
    const { id, sdp } = await this.#player(room, offerSdp, changed);
    return { id, answer: sdp };
  }

  /**
   * A player that takes the relay's offer instead of making one (another lancast node pulling the
   * room): answer it with `accept`. Counts and leaves like a WHEP player.
   */
  async pull(room: Room, changed: () => void): Promise<{ id: string; offer: string; accept: (answerSdp: string) => Promise<void> }> {
    const { id, sdp, consumer } = await this.#player(room, undefined, changed);
    return { id, offer: sdp, accept: (answerSdp) => consumer.acceptAnswer(answerSdp) };
  }

  async #player(room: Room, offerSdp: string | undefined, changed: () => void): Promise<{ id: string; sdp: string; consumer: Consumer }> {
    const id = newPeerId();
    let consumer: Consumer | undefined;
    let gone = false;
    const release = () => {
      if (gone) return;
      gone = true;
      room.players.delete(id);
      changed();
      this.#demand(room);
    };
    room.players.set(id, { close: () => (consumer ? consumer.close() : release()) });
    changed();
    this.#demand(room);
    if (!(await this.#relay.live(room.name, PLAY_WAIT_MS)) || gone) {
      release();
      throw new RelayError('not-live', 'the room is not live');
    }
    try {
      consumer = this.#relay.consume(room.name, offerSdp);
    } catch (err) {
      release();
      throw err;
    }
    consumer.once('closed', release);
    try {
      return { id, sdp: await consumer.sdp, consumer };
    } catch (err) {
      throw new RelayError('bad-sdp', (err as Error).message);
    }
  }

  #offer(room: Room, session: Session, viewer: Peer): void {
    session.legs.get(viewer.id)?.close();
    let leg: Consumer;
    try {
      leg = this.#relay.consume(room.name);
    } catch {
      return; // the publication closed meanwhile
    }
    session.legs.set(viewer.id, leg);
    leg.once('closed', () => {
      if (session.legs.get(viewer.id) === leg) session.legs.delete(viewer.id);
    });
    leg.on('playing', (playing) => {
      if (!leg.closed) viewer.send({ type: 'quality', from: RELAY_PEER_ID, cid: leg.id, ...playing });
    });
    leg.sdp.then(
      (sdp) => {
        if (!leg.closed) viewer.send({ type: 'offer', from: RELAY_PEER_ID, cid: leg.id, sdp });
      },
      (err: Error) => this.#logger.warn({ room: room.name, err: err.message }, 'relay could not offer to a viewer'),
    );
  }

  /** Anyone watching keeps the publisher sending: the room's viewers and WHEP players. */
  #demand(room: Room): void {
    this.#sessions.get(room)?.publication.setWatched(room.viewers.size + room.players.size > 0);
  }
}
