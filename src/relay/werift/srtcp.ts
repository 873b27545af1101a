/**
 * Typed view of the SRTCP sessions werift protects a leg's RTCP with (one per DTLS transport), so
 * the relay can put native SRTCP in their place (../rtcp-crypto.ts). werift 0.24.4 decrypts every
 * incoming RTCP datagram through the session's own `decrypt` property and encrypts everything
 * `sendRtcp` sends through its `encrypt` method; both are swapped on the session object, and only
 * when the session and its keys have the shape this file was written for.
 */
import { RTCDtlsTransport, type RTCPeerConnection } from 'werift';
import type { SrtpKeys } from '../srtp.js';

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
  lancastSrtcp?: true;
}
interface WeriftDtlsTransport {
  state: string;
  srtcp?: WeriftSrtcpSession;
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
  /** From now on the session decrypts with `decrypt` (which throws to drop) and encrypts with `encrypt`. */
  replace(decrypt: (packet: Buffer) => Buffer, encrypt: (packet: Buffer) => Buffer): void;
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
      replaced: session.lancastSrtcp === true,
      replace(decrypt, encrypt) {
        session.lancastSrtcp = true;
        session.decrypt = decrypt;
        session.encrypt = encrypt;
      },
    });
  }
  return out;
}
