/**
 * The relay's public face: all that the rest of lancast (the signaling hub, WHIP and WHEP) may use
 * of it. Media only, in the manner of mediasoup: `publish()` gives a room's publication, `consume()`
 * one viewer's consumer of it; each has typed events and an idempotent `close()`, and closing a
 * publication closes its consumers. The relay knows no peers and builds no signaling message:
 * whoever holds a handle turns its events into messages.
 */

/** Subscribe to a handle's events; the returned function unsubscribes. */
export interface Listenable<Events extends Record<string, unknown[]>> {
  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void;
  once<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): () => void;
}

export interface IceServer {
  urls: string | string[];
  username?: string | undefined;
  credential?: string | undefined;
}

/** A trickled ICE candidate, as browsers write it. */
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null | undefined;
  sdpMLineIndex?: number | null | undefined;
}

export type PublicationEvents = {
  /** Every kind of media the publisher offered has arrived: consumers can be made. */
  ready: [];
  /** Nobody has watched for a while: the publisher may stop sending (true); or resume (false). */
  paused: [paused: boolean];
  /**
   * A simulcast publisher should stop sending these layers (by rid; none: send them all): no
   * viewer has wanted them for a while. Sent again, changed, when a viewer wants one.
   */
  layers: [paused: string[]];
  /** Closed by its holder, replaced by a newer publication of the room, or its connection failed. */
  closed: [];
};

/** One publisher's media in one room. */
export interface Publication extends Listenable<PublicationEvents> {
  readonly room: string;
  /** The relay's SDP answer. Rejects with a RelayError ('bad-sdp'), having closed the publication. */
  readonly answer: Promise<string>;
  readonly ready: boolean;
  readonly paused: boolean;
  readonly closed: boolean;
  addCandidate(candidate: IceCandidateInit | null): Promise<void>;
  /** Whether anyone watches the room now (a viewer still without a consumer counts): drives pausing. */
  setWatched(watched: boolean): void;
  close(): void;
}

/** A viewer's wish among a simulcast publisher's layers: one by its height, or the relay's choice. */
export type QualityChoice = 'auto' | number;

/**
 * Why the layer playing is the one it is: the viewer chose it ('manual'), or auto chose it: the
 * best there is ('auto'), held back by the viewer's link ('link'), or the smallest that fills the
 * viewer's player ('size').
 */
export type LayerReason = 'manual' | 'auto' | 'link' | 'size';

/** Which simulcast layer a consumer is sent, and why (see layer-selector.ts). */
export interface LayerPlaying {
  /** The layers' heights, lowest first (0 while a layer's size is not known yet). */
  layers: number[];
  /** The height of the layer sent; -1 while none is. */
  height: number;
  reason: LayerReason;
}

export type ConsumerEvents = {
  /** With why: 'closed' when its holder (or its publication) closed it, else what went wrong. */
  closed: [reason: string];
  /** A simulcast publication: the layer this consumer is sent changed, or why it is. */
  playing: [playing: LayerPlaying];
};

/** One viewer's leg of a room's publication. */
export interface Consumer extends Listenable<ConsumerEvents> {
  /** Unguessable; fit to name the connection on the wire. */
  readonly id: string;
  /**
   * The relay's offer (consumed without an offer) or its answer to the viewer's offer. Rejects
   * having closed the consumer.
   */
  readonly sdp: Promise<string>;
  readonly closed: boolean;
  /** The viewer's answer to the relay's offer. */
  acceptAnswer(sdp: string): Promise<void>;
  addCandidate(candidate: IceCandidateInit | null): Promise<void>;
  /** The viewer's wish among simulcast layers, and how tall its player shows the picture (device pixels; unchanged when not given). Nothing changes without simulcast. */
  setQuality(choice: QualityChoice, shown?: number): void;
  close(): void;
}

export interface MediaRelay {
  /** A room's publisher offers; any earlier publication of the room closes. */
  publish(room: string, offerSdp: string, options?: { pausable?: boolean }): Publication;
  /**
   * A consumer of the room's ready publication: the relay offers, or answers `offerSdp`. Throws a
   * RelayError ('not-live') when the room has no ready publication.
   */
  consume(room: string, offerSdp?: string): Consumer;
  /** Resolves true once the room has a ready publication, false after `timeoutMs` without. */
  live(room: string, timeoutMs: number): Promise<boolean>;
}

export class RelayError extends Error {
  readonly code: 'not-live' | 'bad-sdp';
  constructor(code: 'not-live' | 'bad-sdp', message: string) {
    super(message);
    this.code = code;
  }
}
