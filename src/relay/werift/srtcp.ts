/**
 * Typed view of the SRTCP sessions werift protects a leg's RTCP with (one per DTLS transport), so
 * the relay can put native SRTCP in their place (../rtcp-crypto.ts). werift 0.24.4 decrypts every
 * incoming RTCP datagram through the session's own `decrypt` property and encrypts everything
 * `sendRtcp` sends through its `encrypt` method; both are swapped on the session object, and only
 * when the session and its keys have the shape this file was written for.
 *
 * A viewer's RTCP can then be read and parsed by the relay itself (../rtcp-intake.ts): each leg
 * gives its ICE sockets and takes the packets werift would have parsed, as werift's receive path
 * hands them on (`deliver`).
 */
import { RTCDtlsTransport, type RTCPeerConnection, type RtcpPacket } from 'werift';
import type { SrtpKeys } from '../srtp.js';
import { consentCredentials, iceSockets, takeConsentLoop, type ConsentCredentials, type ConsentLoop, type IceSocket, type WeriftIceAgent } from './ice-sockets.js';
import { startSrtpLacks } from './receiver.js';

interface WeriftSrtcpContext {
  profile: number;
  srtcpSessionKey: Buffer;
  srtcpSessionSalt: Buffer;
  srtcpSessionAuthTag: Buffer;
  /** werift's outgoing index per sender SSRC: the last one it used. */
  srtcpSSRCStates: Record<number, { srtcpIndex: number } | undefined>;
}
interface WeriftSrtcpSession {
  decrypt: (packet: Buffer) => Buffer;
  encrypt: (packet: Buffer) => Buffer;
  localContext?: WeriftSrtcpContext;
  remoteContext?: WeriftSrtcpContext;
  /** lancast's native context, once it protects the session. */
  lancastSrtcp?: object;
}
interface WeriftDtlsTransport {
  state: string;
  srtcp?: WeriftSrtcpSession;
  iceTransport: { connection: WeriftIceAgent };
  bytesReceived: number;
  packetsReceived: number;
  onRtcp: { execute(rtcp: RtcpPacket): void };
}

/** One connected transport's SRTCP: the keys both ways, and whether lancast already protects it. */
export interface LegSrtcp {
  /** The peer's keys (what its RTCP is protected with). */
  remote: SrtpKeys;
  /** Ours. */
  local: SrtpKeys;
  /** The highest SRTCP index werift has sent with, for any SSRC: ours must go on above it. */
  lastIndexSent: number;
  replaced: boolean;
  /** From now on the session decrypts with `decrypt` (which throws to drop) and encrypts with `encrypt`, both through the native context `native`. */
  replace(decrypt: (packet: Buffer) => Buffer, encrypt: (packet: Buffer) => Buffer, native: object): void;
  /** The native context the session is protected with (undefined: werift's own). */
  readonly native: object | undefined;
  /** The transport's ICE sockets, or why they cannot be read outside werift. */
  sockets(): IceSocket[] | string;
  /** What answering the far end's consent checks takes, or why it cannot be had. */
  consent(): ConsentCredentials | string;
  /** Takes werift's consent loop off the leg's ICE agent (ice-sockets.ts), or says why not. */
  takeConsentLoop(restarted: () => void): ConsentLoop | string;
  /** SRTCP datagrams read outside werift (`bytes` on the wire), counted as werift counts what it reads. */
  received(datagrams: number, bytes: number): void;
  /** An RTCP packet read and parsed outside werift, taken on as werift takes one it parsed. */
  deliver(packet: RtcpPacket): void;
}

/**
 * What werift's DTLS transport does with an SRTCP datagram (startSrtp), which `received` and
 * `deliver` repeat for the ones the relay reads itself: count it, decrypt it, parse it, hand each
 * packet to the transport's onRtcp (werift's router, then the sender it is for).
 */
const SRTCP_RECEIVE = [
  /this\.bytesReceived \+= data\.length;\s*this\.packetsReceived\+\+;/,
  /dec = this\.srtcp\.decrypt\(data\);/,
  /rtcpPackets = RtcpPacketConverter\.deSerialize\(dec\);/,
  /for \(const rtcp of rtcpPackets\) \{\s*try \{\s*this\.onRtcp\.execute\(rtcp\);/,
];
let srtcpReceiveFits: string | undefined | null = null;

/** Why werift's RTCP receive path is not the one `deliver` repeats (undefined: it is); checked once. */
export function srtcpReceiveChanged(): string | undefined {
  if (srtcpReceiveFits === null) srtcpReceiveFits = startSrtpLacks(SRTCP_RECEIVE);
  return srtcpReceiveFits;
}

// Where werift 0.24.4 calls the two: a werift that calls them elsewhere needs this file read again.
const hooked =
  /this\.srtcp\.decrypt\(/.test(RTCDtlsTransport.prototype.startSrtp.toString()) &&
  /this\.srtcp\.encrypt\(/.test(RTCDtlsTransport.prototype.sendRtcp.toString());

function keys(ctx: WeriftSrtcpContext | undefined): SrtpKeys | undefined {
  if (!ctx || !Buffer.isBuffer(ctx.srtcpSessionKey) || !Buffer.isBuffer(ctx.srtcpSessionSalt) || !Buffer.isBuffer(ctx.srtcpSessionAuthTag)) return undefined;
  return { profile: ctx.profile, key: ctx.srtcpSessionKey, salt: ctx.srtcpSessionSalt, authKey: ctx.srtcpSessionAuthTag };
}

/** The SRTCP sessions of `pc`'s connected transports (empty on a werift of another shape). */
export function connectedSrtcp(pc: RTCPeerConnection): LegSrtcp[] {
  if (!hooked) return [];
  const out: LegSrtcp[] = [];
  for (const dtls of pc.dtlsTransports as unknown as WeriftDtlsTransport[]) {
    const session = dtls.srtcp;
    const remote = keys(session?.remoteContext);
    const local = keys(session?.localContext);
    if (dtls.state !== 'connected' || !session || !remote || !local || typeof session.decrypt !== 'function') continue;
    const states = Object.values(session.localContext!.srtcpSSRCStates);
    out.push({
      remote,
      local,
      lastIndexSent: Math.max(0, ...states.map((s) => s?.srtcpIndex ?? 0)),
      replaced: session.lancastSrtcp !== undefined,
      replace(decrypt, encrypt, native) {
        session.lancastSrtcp = native;
        session.decrypt = decrypt;
        session.encrypt = encrypt;
      },
      native: session.lancastSrtcp,
      sockets: () => iceSockets(dtls.iceTransport.connection),
      consent: () => consentCredentials(dtls.iceTransport.connection),
      takeConsentLoop: (restarted) => takeConsentLoop(dtls.iceTransport.connection, restarted),
      received(datagrams, bytes) {
        dtls.bytesReceived += bytes;
        dtls.packetsReceived += datagrams;
      },
      deliver(packet) {
        try {
          dtls.onRtcp.execute(packet);
        } catch {
          // werift logs a subscriber's error here and goes on
        }
      },
    });
  }
  return out;
}
