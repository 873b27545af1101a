/**
 * Typed view of werift's receiving side of a simulcast publisher (RFC 8853), and two fixes to it,
 * made per peer connection (the relay's publisher legs only):
 *
 * - werift keeps one NACK generator per receiver, and a simulcast receiver gets three SSRCs:
 *   their sequence numbers, mixed, look like gaps of thousands, NACKed every 5 ms. Each SSRC
 *   gets its own generator.
 * - werift cannot route a simulcast layer's retransmissions (RFC 4588 RTX): their SSRC is in no
 *   SDP, and their packets name the layer by `repaired-rtp-stream-id`, which werift does not
 *   read for routing. Packets lost on the way in could not be repaired, which on a busy relay
 *   (a socket buffer overrun) meant bursts of hundreds missing. The first RTX packet of a layer
 *   now registers its SSRC with that layer's stream.
 */
import { rtpHeaderExtensionsParser, RTP_EXTENSION_URI, type RtpPacket, type RTCPeerConnection } from 'werift';
import { restartNack, type NackHandler } from './receive-stats.js';

interface NackGenerator {
  addPacket(packet: RtpPacket): void;
  close(): void;
}
/** werift's own generator. */
type WeriftNack = NackGenerator & NackHandler;

interface WeriftTrack {
  rid?: string;
  ssrc?: number;
}

interface WeriftReceiver {
  nack: WeriftNack | PerSsrcNack;
  trackByRID: Record<string, WeriftTrack>;
  trackBySSRC: Record<number, WeriftTrack>;
  ssrcByRtx: Record<number, number>;
}

interface WeriftRouter {
  ssrcTable: Record<number, unknown>;
  ridTable: Record<string, WeriftReceiver | undefined>;
  extIdUriMap: Record<number, string>;
  routeRtp: (packet: RtpPacket) => void;
  registerRtpReceiver(receiver: WeriftReceiver, ssrc: number): void;
}

/** One NACK generator per SSRC, in the place of werift's one per receiver. */
class PerSsrcNack implements NackGenerator {
  readonly #make: () => WeriftNack;
  readonly #bySsrc = new Map<number, WeriftNack>();
  readonly #first: WeriftNack;
  #closed = false;

  constructor(first: WeriftNack, make: () => WeriftNack) {
    this.#first = first;
    this.#make = make;
  }

  /** The receiver's `onPacketLost` is the first generator's event: keep it reachable. */
  get onPacketLost(): unknown {
    return (this.#first as unknown as { onPacketLost: unknown }).onPacketLost;
  }

  addPacket(packet: RtpPacket): void {
    if (this.#closed) return;
    const ssrc = packet.header.ssrc;
    let nack = this.#bySsrc.get(ssrc);
    if (!nack) {
      nack = this.#bySsrc.size === 0 ? this.#first : this.#make();
      this.#bySsrc.set(ssrc, nack);
    }
    nack.addPacket(packet);
  }

  /** Packets did not reach werift for a while (../ingress-gate.ts): each generator starts again from its next packet. */
  restart(): void {
    restartNack(this.#first);
    for (const nack of this.#bySsrc.values()) restartNack(nack);
  }

  close(): void {
    this.#closed = true;
    this.#first.close();
    for (const nack of this.#bySsrc.values()) nack.close();
  }
}

const fixed = new WeakSet<object>();

/**
 * Make a publisher's peer connection receive simulcast whole (see above). Call after its remote
 * description is set; does nothing when the offer had no simulcast.
 */
export function receiveSimulcast(pc: RTCPeerConnection): void {
  const router = (pc as unknown as { router: WeriftRouter }).router;
  const receivers = new Set(Object.values(router.ridTable).filter((r): r is WeriftReceiver => r !== undefined));
  if (receivers.size === 0 || fixed.has(router)) return;
  fixed.add(router);
  for (const receiver of receivers) {
    const first = receiver.nack as WeriftNack;
    const make = () => new (first.constructor as new (r: WeriftReceiver) => WeriftNack)(receiver);
    receiver.nack = new PerSsrcNack(first, make);
  }
  const route = router.routeRtp;
  router.routeRtp = (packet: RtpPacket) => {
    const ssrc = packet.header.ssrc;
    if (router.ssrcTable[ssrc] === undefined && packet.header.extension) {
      const extensions = rtpHeaderExtensionsParser(packet.header.extensions, router.extIdUriMap);
      const repaired: unknown = extensions[RTP_EXTENSION_URI.repairedRtpStreamId];
      if (typeof repaired === 'string' && extensions[RTP_EXTENSION_URI.sdesRTPStreamID] === undefined) {
        const receiver = router.ridTable[repaired];
        const track = receiver?.trackByRID[repaired];
        const media = track && Object.entries(receiver.trackBySSRC).find(([, t]) => t === track)?.[0];
        if (receiver && media !== undefined) {
          receiver.ssrcByRtx[ssrc] = Number(media);
          router.registerRtpReceiver(receiver, ssrc);
        }
      }
    }
    route(packet);
  };
}
