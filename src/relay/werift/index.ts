/**
 * werift behind one adapter. Everything lancast changes in werift is installed from
 * installWeriftPatches(), called once at start-up by the main thread (start.ts) and by each relay
 * worker (relay-worker.ts), and by tests that need werift as the relay runs it. It refuses to
 * install on a werift that is not the version the patches were written for, or whose replaced
 * functions changed shape: a werift upgrade cannot silently undo a fix. The typed views of
 * werift's internals (sender.ts, receiver.ts) are the only other place lancast reads them.
 */
import { ignoreRepeatedHelloVerify } from './dtls-hello-verify.js';
import { nativeEcdh } from './fast-ecdh.js';
import { fastRtcpHeader } from './fast-rtcp.js';
import { fastRtpHeader } from './fast-rtp.js';
import { leanEvents } from './lean-events.js';
import { leanReceiveStats } from './lean-receive-stats.js';
import { leanRtpReceive } from './lean-rtp-receive.js';
import { nackLoop } from './nack-loop.js';
import { rtcpLoop } from './rtcp-loop.js';
import { checkWerift, weriftVersion, type WeriftPatch } from './patch.js';
import { iceDoneWhenNominated, keepEarlyDtlsRecords, noImplicitStun, passiveAnswer } from './pc-config.js';
import { stunAuthentication } from './stun-auth.js';
import { stunPrecheck } from './stun-precheck.js';

export { dtlsFixCounters } from './dtls-hello-verify.js';
export { deSerializeRtcpHeader } from './fast-rtcp.js';
export { deSerializeRtpHeader } from './fast-rtp.js';
export { checkWerift, replacements, WERIFT_VERSION, weriftVersion, type WeriftPatch } from './patch.js';
export { connectedReceivingSrtp, routedReceiveCounters, srtpReceiveChanged, type ReceivingSrtp } from './receiver.js';
export type { IceSocket } from './ice-sockets.js';
export { receiveSimulcast } from './simulcast-receiver.js';
export { rtcpSendCounters, sendRtcpNatively, weriftSenderRtcp, weriftSenderTransport } from './sender.js';
export { authenticate, type LocalCredentials } from './stun-auth.js';

/** Every change, in the order installed (two wrap getCandidatePromises, each around the one before). */
export const weriftPatches: readonly WeriftPatch[] = [
  noImplicitStun,
  keepEarlyDtlsRecords,
  iceDoneWhenNominated,
  passiveAnswer,
  stunAuthentication,
  ignoreRepeatedHelloVerify,
  nativeEcdh,
  fastRtpHeader,
  fastRtcpHeader,
  stunPrecheck,
  leanEvents,
  leanRtpReceive,
  leanReceiveStats,
  nackLoop,
  rtcpLoop,
];

export class WeriftMismatchError extends Error {
  constructor(readonly problems: string[]) {
    super(`werift is not the one lancast's patches were written for:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'WeriftMismatchError';
  }
}

/** Checks `patches` against werift `version` and installs them all, or throws WeriftMismatchError and installs none. */
export function installPatches(version: string, patches: readonly WeriftPatch[]): void {
  // Every check runs before any patch: two patches wrap the same method.
  const problems = checkWerift(version, patches);
  if (problems.length > 0) throw new WeriftMismatchError(problems);
  for (const patch of patches) patch.apply();
}

let installed = false;

/** Checks the werift lancast loads, then installs every patch (once; later calls do nothing). */
export function installWeriftPatches(): void {
  if (installed) return;
  installPatches(weriftVersion(), weriftPatches);
  installed = true;
}
