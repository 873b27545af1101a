/**
 * The publisher's leg, natively: werift receives the broadcaster's SRTP and, per packet, builds a
 * new decipher and parses the header bit by bit; at 2.5 Mbit/s that was most of what a relayed
 * room with no viewers cost. Once the leg's DTLS is up, this swaps the decrypt step of werift's
 * SRTP session for native/fanout.c's `unprotect` (one reused OpenSSL context, replay-safe rollover
 * counter per SSRC); werift still parses, routes, NACKs and reports as before. Without the native
 * module, or with LANCAST_NATIVE=0, werift keeps its own path.
 */
import { SrtpAuthenticationError, type RTCPeerConnection } from 'werift';
import { native } from './egress.js';

interface WeriftSrtpSession {
  decrypt: (packet: Buffer) => Buffer;
  remoteContext?: { profile: number; srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer };
  lancastIngress?: object;
}
interface WeriftDtlsTransport {
  state: string;
  srtp?: WeriftSrtpSession;
}

/** Packets decrypted natively and rejected (failed authentication or malformed), all legs. */
export const ingressCounters = { packets: 0, rejected: 0 };

/**
 * Decrypt the leg's incoming SRTP natively from now on. Returns false (werift keeps decrypting)
 * when the native module is missing or the leg's DTLS is not connected yet.
 */
export function useNativeIngress(pc: RTCPeerConnection): boolean {
  const module = native;
  if (!module) return false;
  const transports = new Set(pc.getTransceivers().map((t) => t.receiver.dtlsTransport as unknown as WeriftDtlsTransport));
  let swapped = false;
  for (const dtls of transports) {
    const session = dtls?.srtp;
    const ctx = session?.remoteContext;
    if (!dtls || dtls.state !== 'connected' || !session || !ctx) continue;
    if (session.lancastIngress) {
      swapped = true;
      continue;
    }
    const ingress = module.ingress(ctx.profile, ctx.srtpSessionKey, ctx.srtpSessionSalt, ctx.profile === 1 ? ctx.srtpSessionAuthTag : null);
    session.lancastIngress = ingress;
    session.decrypt = (packet) => {
      const plain = module.unprotect(ingress, packet);
      if (!plain) {
        ingressCounters.rejected++;
        // werift drops the packet on this error, as it does when its own decrypt fails.
        throw new SrtpAuthenticationError('SRTP packet failed authentication (native ingress)');
      }
      ingressCounters.packets++;
      return plain;
    };
    swapped = true;
  }
  return swapped;
}
