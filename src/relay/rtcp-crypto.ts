/**
 * Every leg's RTCP, natively: werift builds a new cipher and a new HMAC for each RTCP packet in
 * and out, and a relayed room's viewers send receiver reports and REMB several times a second
 * each while the relay sends them sender reports; in a 20-viewer room that was a tenth of the
 * main thread. Once a leg's DTLS is up this swaps its SRTCP session's decrypt and encrypt for
 * native/fanout.c's (`unprotectRtcp`, `protectRtcp`: one reused OpenSSL context per direction, a
 * replay window per sender, the outbound index going on from werift's). werift still parses and
 * dispatches the reports, and builds its own. Without the native module, or with
 * LANCAST_NATIVE=0, werift keeps its own path.
 */
import { SrtpAuthenticationError, type RTCPeerConnection } from 'werift';
import { native } from './native.js';
import { AES_CM_128_HMAC_SHA1_80 } from './srtp.js';
import { connectedSrtcp } from './werift/srtcp.js';

/** An empty datagram: what werift sends when the native side refuses to protect a packet. */
const NOTHING = Buffer.alloc(0);

/**
 * Protect the leg's RTCP natively from now on, both ways. Returns false (werift keeps doing it)
 * when the native module is missing or the leg's DTLS is not connected yet.
 */
export function useNativeSrtcp(pc: RTCPeerConnection): boolean {
  const module = native;
  if (!module) return false;
  let swapped = false;
  for (const leg of connectedSrtcp(pc)) {
    swapped = true;
    if (leg.replaced) continue;
    const { remote, local } = leg;
    const cm = remote.profile === AES_CM_128_HMAC_SHA1_80;
    const srtcp = module.srtcp(remote.profile, remote.key, remote.salt, cm ? remote.authKey : null, local.key, local.salt, cm ? local.authKey : null, leg.lastIndexSent);
    leg.replace(
      (packet) => {
        const plain = module.unprotectRtcp(srtcp, packet);
        // werift drops the packet on this error, as it does when its own decrypt fails.
        if (!plain) throw new SrtpAuthenticationError('SRTCP packet failed authentication or was replayed (native)');
        return plain;
      },
      // Refused only for a packet that is not RTCP, or after 2^31 packets: werift's sendRtcp must
      // not throw (its callers do not all catch), and an empty datagram is dropped by any peer.
      (packet) => module.protectRtcp(srtcp, packet) ?? NOTHING,
      srtcp,
    );
  }
  return swapped;
}
