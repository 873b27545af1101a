/**
 * Typed view of werift's receive statistics on a publisher's leg, for packets the relay drops
 * before werift sees them (../ingress-gate.ts). werift's receiver reports to the publisher, its
 * getStats and its NACK generators come from these; kept current, the publisher's encoder sees
 * no loss while nobody watches, and when media flows to werift again its sequence numbers follow
 * on instead of leaving a gap of thousands to report as lost and NACK.
 */
import type { RTCPeerConnection } from 'werift';

/** The parts of a werift RtpPacket that StreamStatistics.add and NackHandler.addPacket read. */
interface PacketFacts {
  header: { ssrc: number; sequenceNumber: number; timestamp: number; serializeSize: number };
  payload: { length: number };
}

interface WeriftReceiver {
  remoteStreams: Record<number, { add(packet: PacketFacts): void } | undefined>;
  trackBySSRC: Record<number, { kind: string } | undefined>;
  ssrcByRtx: Record<number, number | undefined>;
  nack: { addPacket(packet: PacketFacts): void };
  nackEnabled: unknown;
}

/** Notes one packet werift did not receive in the statistics of its SSRC (one werift has seen before). */
export type NoteReceived = (ssrc: number, seq: number, ts: number, headerSize: number, payloadSize: number) => void;

/** How to note packets of `pc`'s streams that werift does not see. */
export function receiveStats(pc: RTCPeerConnection): NoteReceived {
  const receivers = pc.getTransceivers().map((t) => t.receiver as unknown as WeriftReceiver);
  const bySsrc = new Map<number, WeriftReceiver | undefined>();
  return (ssrc, seq, ts, headerSize, payloadSize) => {
    let receiver = bySsrc.get(ssrc);
    if (receiver === undefined && !bySsrc.has(ssrc)) {
      receiver = receivers.find((r) => r.remoteStreams[ssrc] !== undefined);
      bySsrc.set(ssrc, receiver);
    }
    const stream = receiver?.remoteStreams[ssrc];
    if (!receiver || !stream) return;
    const packet: PacketFacts = { header: { ssrc, sequenceNumber: seq, timestamp: ts, serializeSize: headerSize }, payload: { length: payloadSize } };
    stream.add(packet);
    // As werift's handleRTP does: video media streams (not their retransmissions) feed the NACK generator.
    if (receiver.nackEnabled && receiver.ssrcByRtx[ssrc] === undefined && receiver.trackBySSRC[ssrc]?.kind === 'video') receiver.nack.addPacket(packet);
  };
}
