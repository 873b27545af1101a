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
import { AES_CM_128_HMAC_SHA1_80 } from './srtp.js';
import { connectedReceivingSrtp } from './werift/index.js';

/** Packets decrypted natively and rejected (failed authentication or malformed), all legs. */
export const ingressCounters = { packets: 0, rejected: 0 };

/**
 * Decrypt the leg's incoming SRTP natively from now on. Returns false (werift keeps decrypting)
 * when the native module is missing or the leg's DTLS is not connected yet.
 */
export function useNativeIngress(pc: RTCPeerConnection): boolean {
  const module = native;
  if (!module) return false;
  let swapped = false;
  for (const session of connectedReceivingSrtp(pc)) {
    swapped = true;
    if (session.replaced) continue;
    const { profile, key, salt, authKey } = session.keys;
    const ingress = module.ingress(profile, key, salt, profile === AES_CM_128_HMAC_SHA1_80 ? authKey : null);
    session.replaceDecrypt((packet) => {
      const plain = module.unprotect(ingress, packet);
      if (!plain) {
        ingressCounters.rejected++;
        // werift drops the packet on this error, as it does when its own decrypt fails.
        throw new SrtpAuthenticationError('SRTP packet failed authentication (native ingress)');
      }
      ingressCounters.packets++;
      return plain;
    }, ingress);
  }
  return swapped;
}
