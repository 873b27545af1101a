/**
 * Typed view of the SRTP sessions werift decrypts a publisher's media with, so the relay can put
 * native decryption in their place (../ingress.ts) and drop media before werift while nobody
 * watches (../ingress-gate.ts). The one place lancast reads them.
 */
import { RTCDtlsTransport, RtpPacket, type RTCPeerConnection } from 'werift';
import type { SrtpKeys } from '../srtp.js';
import { replacements } from './patch.js';
import { iceSockets, type IceSocket, type WeriftIceAgent } from './ice-sockets.js';

interface WeriftSrtpSession {
  decrypt: (packet: Buffer) => Buffer;
  remoteContext?: { profile: number; srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer };
  lancastDecrypt?: (packet: Buffer) => Buffer;
  lancastIngress?: object;
}
interface WeriftDtlsTransport {
  state: string;
  srtp?: WeriftSrtpSession;
  iceTransport: { connection: WeriftIceAgent };
  bytesReceived: number;
  packetsReceived: number;
  onRtp: { execute(rtp: RtpPacket): void };
}

/**
 * What werift's DTLS transport does with an SRTP packet once decrypted (startSrtp), which
 * `deliver` repeats for packets the relay reads and decrypts itself (../ingress-gate.ts): count
 * it, parse it, hand it to the transport's onRtp (werift's router, receivers and NACK generators).
 */
const SRTP_RECEIVE = [
  /this\.bytesReceived \+= data\.length;\s*this\.packetsReceived\+\+;/,
  /dec = this\.srtp\.decrypt\(data\);/,
  /rtp = RtpPacket\.deSerialize\(dec\);/,
  /this\.onRtp\.execute\(rtp\);/,
];
let srtpReceiveFits: string | undefined | null = null;

/**
 * Which of `steps` werift's own RTCDtlsTransport.startSrtp (under any patch that wraps it:
 * lean-events.ts does) no longer contains, as a reason; undefined when it contains them all.
 */
export function startSrtpLacks(steps: RegExp[]): string | undefined {
  const werifts = replacements.find((r) => r.target === 'RTCDtlsTransport.prototype.startSrtp')?.original;
  const source = String(werifts ?? (RTCDtlsTransport.prototype as unknown as Record<string, unknown>).startSrtp);
  const missing = steps.filter((re) => !re.test(source));
  return missing.length ? `werift's RTCDtlsTransport.startSrtp no longer contains ${missing.join(', ')}` : undefined;
}

/** Why werift's receive path is not the one `deliver` repeats (undefined: it is); checked once. */
export function srtpReceiveChanged(): string | undefined {
  if (srtpReceiveFits === null) srtpReceiveFits = startSrtpLacks(SRTP_RECEIVE);
  return srtpReceiveFits;
}

/** One connected receiving SRTP session: its keys, and whether lancast already decrypts for it. */
export interface ReceivingSrtp {
  keys: SrtpKeys;
  replaced: boolean;
  /** From now on werift's SRTP session decrypts with `decrypt` (which throws to drop a packet), through the native context `ingress`. */
  replaceDecrypt(decrypt: (packet: Buffer) => Buffer, ingress: object): void;
  /** The native context lancast decrypts with (undefined: werift decrypts), with the session's rollover counters. */
  readonly ingress: object | undefined;
  /** The transport's ICE sockets, or why they cannot be read outside werift. */
  sockets(): IceSocket[] | string;
  /** A packet decrypted outside werift (`encrypted` bytes on the wire), taken on as werift takes one it decrypted. */
  deliver(plain: Buffer, encrypted: number): void;
}

/** The receiving SRTP sessions of `pc` whose DTLS is connected, or was when lancast took over their decryption (one per transport). */
export function connectedReceivingSrtp(pc: RTCPeerConnection): ReceivingSrtp[] {
  const transports = new Set(pc.getTransceivers().map((t) => t.receiver.dtlsTransport as unknown as WeriftDtlsTransport | undefined));
  const out: ReceivingSrtp[] = [];
  for (const dtls of transports) {
    const session = dtls?.srtp;
    const ctx = session?.remoteContext;
    if (!dtls || !session || !ctx) continue;
    // werift marks the transport failed on a malformed DTLS record from anyone (a stray datagram
    // to the leg's port) while its SRTP goes on: a leg already decrypted natively stays usable.
    if (dtls.state !== 'connected' && session.lancastIngress === undefined) continue;
    out.push({
      keys: { profile: ctx.profile, key: ctx.srtpSessionKey, salt: ctx.srtpSessionSalt, authKey: ctx.srtpSessionAuthTag },
      replaced: session.lancastDecrypt !== undefined,
      replaceDecrypt(decrypt, ingress) {
        session.lancastDecrypt = decrypt;
        session.lancastIngress = ingress;
        session.decrypt = decrypt;
      },
      ingress: session.lancastIngress,
      sockets: () => iceSockets(dtls.iceTransport.connection),
      deliver(plain, encrypted) {
        dtls.bytesReceived += encrypted;
        dtls.packetsReceived++;
        let rtp: RtpPacket;
        try {
          rtp = RtpPacket.deSerialize(plain);
        } catch {
          return; // werift drops a malformed packet too
        }
        try {
          dtls.onRtp.execute(rtp);
        } catch {
          // werift logs a subscriber's error here and goes on
        }
      },
    });
  }
  return out;
}
