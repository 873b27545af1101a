import { randomBytes } from 'node:crypto';
import { SrtcpSession, SrtpSession } from 'werift';
import { native } from '../../src/relay/native.js';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, type SrtpKeys } from '../../src/relay/srtp.js';

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

/** A werift SRTCP session's keys one way (the parts the tests read and set). */
export interface SrtcpContext {
  srtcpSessionKey: Buffer;
  srtcpSessionSalt: Buffer;
  srtcpSessionAuthTag: Buffer;
  setIndex(ssrc: number, index: number): void;
}
export const srtcpContext = (session: SrtcpSession, side: 'localContext' | 'remoteContext') => (session as unknown as Record<string, SrtcpContext>)[side];

/**
 * A viewer's werift SRTCP session, the relay's werift session (the oracle) and the relay's native
 * SRTCP made from the relay session's keys, as src/relay/rtcp-crypto.ts makes it.
 */
export function srtcpLegs(profile: number, saltLength: number, lastIndexSent = 0): { viewer: SrtcpSession; relay: SrtcpSession; srtcp: object; into: SrtcpContext } {
  const relayKey = randomBytes(16);
  const relaySalt = randomBytes(saltLength);
  const viewerKey = randomBytes(16);
  const viewerSalt = randomBytes(saltLength);
  const viewer = new SrtcpSession({
    keys: { localMasterKey: viewerKey, localMasterSalt: viewerSalt, remoteMasterKey: relayKey, remoteMasterSalt: relaySalt },
    profile: profile,
  });
  const relay = new SrtcpSession({
    keys: { localMasterKey: relayKey, localMasterSalt: relaySalt, remoteMasterKey: viewerKey, remoteMasterSalt: viewerSalt },
    profile: profile,
  });
  const into = srtcpContext(relay, 'remoteContext');
  const out = srtcpContext(relay, 'localContext');
  const cm = profile === AES_CM_128_HMAC_SHA1_80;
  const srtcp = native!.srtcp(
    profile,
    into.srtcpSessionKey,
    into.srtcpSessionSalt,
    cm ? into.srtcpSessionAuthTag : null,
    out.srtcpSessionKey,
    out.srtcpSessionSalt,
    cm ? out.srtcpSessionAuthTag : null,
    lastIndexSent,
  );
  return { viewer, relay, srtcp, into };
}
