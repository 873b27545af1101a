import { randomBytes } from 'node:crypto';
import { SrtpSession } from 'werift';
import { AEAD_AES_128_GCM, type SrtpKeys } from '../../src/relay/srtp.js';

/**
 * A werift SRTP session (the viewer's side) and the session keys the relay's sending side derives
 * from the same master key: what one protects, the other must decrypt.
 */
export function srtpKeyPair(profile: number): { session: SrtpSession; keys: SrtpKeys } {
  const masterKey = randomBytes(16);
  const masterSalt = randomBytes(profile === AEAD_AES_128_GCM ? 12 : 14);
  const session = new SrtpSession({
    keys: { localMasterKey: masterKey, localMasterSalt: masterSalt, remoteMasterKey: masterKey, remoteMasterSalt: masterSalt },
    profile: profile,
  });
  const ctx = (session as unknown as { localContext: { srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer } }).localContext;
  return { session, keys: { profile, key: ctx.srtpSessionKey, salt: ctx.srtpSessionSalt, authKey: ctx.srtpSessionAuthTag } };
}
