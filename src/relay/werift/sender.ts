/**
 * Typed views of a werift RTCRtpSender's internals, for the relay's own forwarding path: its SRTP
 * keys and ICE socket (the Egress sends without werift's per-packet work) and its RTCP state (NACKs
 * in, sender reports out). The one place lancast reads a sender's private fields.
 */
import type { Socket } from 'node:dgram';
import {
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
import type { SenderInfo, StreamRtcp } from '../sink.js';
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
export function sendRtcpNatively(leg: unknown, packets: { serialize(): Buffer }[] | Buffer): boolean {
  const dtls = leg as NativeRtcpLeg | undefined;
  const context = dtls?.srtcp?.lancastSrtcp;
  const pair = dtls?.iceTransport?.connection?.nominated;
  const transport = pair?.protocol?.transport;
  const fd = transport?.type === 'udp' && transport.socket ? socketFd(transport.socket) : undefined;
  if (!native || !dtls || !context || dtls.state !== 'connected' || !pair || fd === undefined) return false;
  const data = Buffer.isBuffer(packets) ? packets : Buffer.concat(packets.map((p) => p.serialize()));
  const sent = native.sendRtcp(context, fd, pair.remoteAddr[0], pair.remoteAddr[1], data);
  if (sent) rtcpSendCounters.natively++;
  return sent;
}

/**
 * A sender report and the stream's CNAME as one compound packet (RFC 3550 6.4.1, 6.5), what
 * werift's RtcpSrPacket and RtcpSourceDescriptionPacket serialize to, written at once: in a small
 * room the reports were the main thread's most frequent timer work, and werift's classes (and its
 * compactNtp, through two buffer writers and a reader) were most of each. Unlike werift's, the
 * SDES chunk always ends with a null octet (6.5: a chunk whose items end at a 32-bit boundary
 * gets four).
 */
export function senderReport(ssrc: number, info: SenderInfo, cname?: string): Buffer {
  const text = cname === undefined ? undefined : Buffer.from(cname, 'utf8').subarray(0, 255);
  // The chunk: SSRC, the CNAME item (type, length, text), then nulls up to a 32-bit boundary, at least one.
  const chunk = text ? (4 + 2 + text.length + 4) & ~3 : 0;
  const out = Buffer.alloc(28 + (text ? 4 + chunk : 0));
  out[0] = 0x80;
  out[1] = 200;
  out.writeUInt16BE(6, 2);
  out.writeUInt32BE(ssrc >>> 0, 4);
  out.writeBigUInt64BE(BigInt.asUintN(64, info.ntpTimestamp), 8);
  out.writeUInt32BE(info.rtpTimestamp >>> 0, 16);
  out.writeUInt32BE(info.packetCount >>> 0, 20);
  out.writeUInt32BE(info.octetCount >>> 0, 24);
  if (text) {
    out[28] = 0x81;
    out[29] = 202;
    out.writeUInt16BE((4 + chunk) / 4 - 1, 30);
    out.writeUInt32BE(ssrc >>> 0, 32);
    out[36] = 1;
    out[37] = text.length;
    text.copy(out, 38);
  }
  return out;
}

/** The middle 32 bits of a 64-bit NTP timestamp (RFC 3550 6.4.1's LSR): werift's compactNtp. */
export function compactNtpOf(ntp: bigint): number {
  return Number((BigInt.asUintN(64, ntp) >> 16n) & 0xffffffffn);
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
      const info = { ntpTimestamp: s.ntpTimestamp, rtpTimestamp: s.rtpTimestamp, packetCount: s.packetCount, octetCount: s.octetCount };
      // What werift reads to reckon the round trip from the viewer's next receiver report.
      s.lastSRtimestamp = compactNtpOf(s.ntpTimestamp);
      s.lastSentSRTimestamp = timestampSeconds();
      if (sendRtcpNatively(s.dtlsTransport, senderReport(s.ssrc, info, s.cname))) return;
      const packets: (RtcpSrPacket | RtcpSourceDescriptionPacket)[] = [new RtcpSrPacket({ ssrc: s.ssrc, senderInfo: new RtcpSenderInfo(info) })];
      if (s.cname) {
        const item = new SourceDescriptionItem({ type: 1, text: s.cname });
        packets.push(new RtcpSourceDescriptionPacket({ chunks: [new SourceDescriptionChunk({ source: s.ssrc, items: [item] })] }));
      }
      s.dtlsTransport.sendRtcp(packets).catch(() => undefined);
    },
  };
}
