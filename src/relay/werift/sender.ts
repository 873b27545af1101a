/**
 * Typed views of a werift RTCRtpSender's internals, for the relay's own forwarding path: its SRTP
 * keys and ICE socket (the Egress sends without werift's per-packet work) and its RTCP state (NACKs
 * in, sender reports out). The one place lancast reads a sender's private fields.
 */
import type { Socket } from 'node:dgram';
import {
  compactNtp,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  timestampSeconds,
  type RTCRtpSender,
} from 'werift';
import type { EgressTarget } from '../egress.js';
import { native, socketFd } from '../native.js';
import type { StreamRtcp } from '../sink.js';
import type { SrtpKeys } from '../srtp.js';

/** werift's internals an Egress needs, read once the leg is connected. */
interface WeriftLeg {
  dtlsTransport?: {
    state: string;
    srtp?: { localContext?: { profile: number; srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer } };
    iceTransport?: {
      connection?: {
        send(data: Buffer): Promise<void>;
        nominated?: { remoteAddr: [string, number]; protocol?: { transport?: { type?: string; socket?: Socket } } };
      };
    };
  };
}

/**
 * A connected werift sender's SRTP keys and where its packets go (its ICE socket, or werift's own
 * send for a relayed candidate pair); undefined until it is connected.
 */
export function weriftSenderTransport(sender: RTCRtpSender): { keys: SrtpKeys; target: EgressTarget } | undefined {
  const dtls = (sender as unknown as WeriftLeg).dtlsTransport;
  const ctx = dtls?.srtp?.localContext;
  const connection = dtls?.iceTransport?.connection;
  const pair = connection?.nominated;
  if (!dtls || dtls.state !== 'connected' || !ctx || !connection || !pair) return undefined;
  const transport = pair.protocol?.transport;
  return {
    keys: { profile: ctx.profile, key: ctx.srtpSessionKey, salt: ctx.srtpSessionSalt, authKey: ctx.srtpSessionAuthTag },
    target:
      transport?.type === 'udp' && transport.socket
        ? { kind: 'udp', socket: transport.socket, address: pair.remoteAddr[0], port: pair.remoteAddr[1] }
        : { kind: 'function', send: (packet) => void connection.send(packet).catch(() => undefined) },
  };
}

/**
 * werift's sender state: it keeps these for its sender reports, and reads the `lastSR*` pair to
 * compute the round trip from the viewer's receiver reports; the relay bypasses sendRtp, so sets them.
 */
interface WeriftSenderState {
  ssrc: number;
  cname?: string;
  dtlsTransport?: { sendRtcp(packets: (RtcpSrPacket | RtcpSourceDescriptionPacket)[]): Promise<unknown> };
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  lastSRtimestamp: number;
  lastSentSRTimestamp: number;
  rtxSsrc?: number;
  rtxPayloadType?: number;
  onGenericNack: { subscribe(f: (nack: { lost: number[] }) => void): { unSubscribe(): void } };
}

/** Compound RTCP packets sent by sendRtcpNatively, all legs. */
export const rtcpSendCounters = { natively: 0 };

/** The parts of a werift DTLS transport sendRtcpNatively reads. */
type NativeRtcpLeg = NonNullable<WeriftLeg['dtlsTransport']> & { srtcp?: { lancastSrtcp?: object } };

/**
 * Sends a compound RTCP packet on a werift DTLS transport whose SRTCP is native (srtcp.ts) straight
 * from its ICE socket to the selected pair's far end: werift's sendRtcp takes it through a chain of
 * promises and Node's dgram, which looks the address up again for every datagram; in a small room
 * the viewers' sender reports and the publisher's REMB were the main thread's most frequent timer
 * work. False when the leg is not so (werift sends it then).
 */
export function sendRtcpNatively(leg: unknown, packets: { serialize(): Buffer }[]): boolean {
  const dtls = leg as NativeRtcpLeg | undefined;
  const context = dtls?.srtcp?.lancastSrtcp;
  const pair = dtls?.iceTransport?.connection?.nominated;
  const transport = pair?.protocol?.transport;
  const fd = transport?.type === 'udp' && transport.socket ? socketFd(transport.socket) : undefined;
  if (!native || !dtls || !context || dtls.state !== 'connected' || !pair || fd === undefined) return false;
  const sent = native.sendRtcp(context, fd, pair.remoteAddr[0], pair.remoteAddr[1], Buffer.concat(packets.map((p) => p.serialize())));
  if (sent) rtcpSendCounters.natively++;
  return sent;
}

/** A werift sender's RTCP as a StreamRtcp. */
export function weriftSenderRtcp(sender: RTCRtpSender): StreamRtcp {
  const s = sender as unknown as WeriftSenderState;
  return {
    get rtx() {
      return s.rtxPayloadType !== undefined && s.rtxSsrc !== undefined ? { ssrc: s.rtxSsrc, payloadType: s.rtxPayloadType } : undefined;
    },
    onNack(handler) {
      const subscription = s.onGenericNack.subscribe((nack) => handler(nack.lost));
      return () => subscription.unSubscribe();
    },
    update(info) {
      s.ntpTimestamp = info.ntpTimestamp;
      s.rtpTimestamp = info.rtpTimestamp;
      s.packetCount = info.packetCount;
      s.octetCount = info.octetCount;
    },
    sendReport() {
      if (!s.dtlsTransport) return;
      const packets: (RtcpSrPacket | RtcpSourceDescriptionPacket)[] = [
        new RtcpSrPacket({
          ssrc: s.ssrc,
          senderInfo: new RtcpSenderInfo({ ntpTimestamp: s.ntpTimestamp, rtpTimestamp: s.rtpTimestamp, packetCount: s.packetCount, octetCount: s.octetCount }),
        }),
      ];
      s.lastSRtimestamp = compactNtp(s.ntpTimestamp);
      s.lastSentSRTimestamp = timestampSeconds();
      if (s.cname) {
        const item = new SourceDescriptionItem({ type: 1, text: s.cname });
        packets.push(new RtcpSourceDescriptionPacket({ chunks: [new SourceDescriptionChunk({ source: s.ssrc, items: [item] })] }));
      }
      if (!sendRtcpNatively(s.dtlsTransport, packets)) s.dtlsTransport.sendRtcp(packets).catch(() => undefined);
    },
  };
}
