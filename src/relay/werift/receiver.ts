/**
 * Typed view of the SRTP sessions werift decrypts a publisher's media with, so the relay can put
 * native decryption in their place (../ingress.ts) and drop media before werift while nobody
 * watches (../ingress-gate.ts). The one place lancast reads them.
 */
import type { RTCPeerConnection } from 'werift';
import type { SrtpKeys } from '../srtp.js';
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
    });
  }
  return out;
}
