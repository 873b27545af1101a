/**
 * What the forwarder sends to. A Sink is one stream of one kind: a viewer's audio or video today;
 * a recorder or a viewer of one simulcast layer later. The forwarder sends every packet through
 * its egress (batched with the other sinks of that kind), answers the NACKs its RTCP side reports,
 * and writes that side's sender reports.
 */
import type { RTCRtpSender } from 'werift';
import type { MediaKind } from './codecs.js';
import type { Egress } from './egress.js';
import type { ViewerQuality } from './layer-selector.js';
import { weriftSenderRtcp } from './werift/index.js';

/** What a sender report says about the stream (RFC 3550 6.4.1). */
export interface SenderInfo {
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

/** A stream's RTCP side, as the forwarder uses it. */
export interface StreamRtcp {
  /** The retransmission stream (RFC 4588), when the viewer negotiated one. */
  readonly rtx: { ssrc: number; payloadType: number } | undefined;
  /** Calls `handler` with the sequence numbers the viewer reports lost; returns the unsubscribe. */
  onNack(handler: (lost: number[]) => void): () => void;
  /** The clock and counts the next sender report carries. */
  update(info: SenderInfo): void;
  /** Send a sender report (and the stream's CNAME) now. */
  sendReport(): void;
}

export interface Sink {
  readonly kind: MediaKind;
  /** Sends the packets; once the sink is added, the forwarder closes it when it removes the sink. */
  readonly egress: Egress;
  readonly rtcp: StreamRtcp | undefined;
  /** A viewer's wish among simulcast layers, and where it hears which one plays (video only). */
  readonly quality?: ViewerQuality | undefined;
}

/** A viewer's stream: media through an Egress, RTCP through its werift sender. */
export class ViewerSink implements Sink {
  readonly kind: MediaKind;
  readonly egress: Egress;
  readonly rtcp: StreamRtcp | undefined;
  readonly quality: ViewerQuality | undefined;

  constructor(kind: MediaKind, egress: Egress, sender?: RTCRtpSender, quality?: ViewerQuality) {
    this.kind = kind;
    this.egress = egress;
    this.rtcp = sender && weriftSenderRtcp(sender);
    this.quality = quality;
  }
}
