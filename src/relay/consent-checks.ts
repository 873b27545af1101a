/**
 * The relay's own consent checks (RFC 7675) on the viewers' legs whose RTCP it reads natively
 * (rtcp-intake.ts). werift checks each leg's selected pair every 4-6 s and fails the leg when no
 * answer has come for 30 s; each of its checks builds an abort controller, a STUN transaction with
 * its timers, the message attribute by attribute and its HMAC through Node's crypto, then sends it
 * through Node's UDP socket (what that cost: docs/performance.md, "Consent checks sent natively").
 * Here one timer per thread serves every such leg: when a leg's check is due, the native module
 * sends the request werift would have sent (native/fanout.c `checkConsent`) and its answer is taken
 * where the leg's RTCP is read (`drainRtcp`). The agent is told what werift's loop would tell it:
 * the pair's request and answer counters and round trip, consent fresh, and failure at the timeout.
 *
 * An answer is seen when the next check is due, so a leg whose far end has gone fails 30-36 s after
 * its last answer (werift: 30 s). `LANCAST_NATIVE_CONSENT=0` leaves the checks to werift.
 */
import type { Socket } from 'node:dgram';
import { every, type Job } from './batched-timers.js';
import { relayCounters } from './forwarder.js';
import { socketFd, type NativeModule } from './native.js';
import type { ConsentLoop } from './werift/ice-sockets.js';

/** The loop's timings: werift's own (tests shorten them). */
export const consentTiming = {
  /** werift's CONSENT_INTERVAL (RFC 7675 5.1: 5 s, each interval randomised to 0.8-1.2 times). */
  intervalMs: 5_000,
  /** werift's CONSENT_TIMEOUT (RFC 7675 5.1: 30 s). */
  timeoutMs: 30_000,
  /** How often due checks are looked for. */
  tickMs: 500,
};

interface Session {
  module: NativeModule;
  srtcp: object;
  loop: ConsentLoop;
  /** Tells the native module the agent's credentials again when they changed. */
  tell: () => void;
  nextAt: number;
  /** When consent was last known fresh: the last answer seen, or the start. */
  freshAt: number;
  answers: number;
}

const sessions = new Set<Session>();
let timer: Job | undefined;

const jitter = () => consentTiming.intervalMs * (0.8 + 0.4 * Math.random());

function fd(socket: Socket | string): number | undefined {
  return typeof socket === 'string' ? undefined : socketFd(socket);
}

/** Each leg whose check is due: the answer to its last check read, the next sent, or the leg failed. */
function tick(): void {
  const now = performance.now();
  for (const s of sessions) {
    if (now < s.nextAt) continue;
    s.nextAt = now + jitter();
    const socket = fd(s.loop.socket());
    if (socket === undefined) continue; // no pair now: werift restarts the loop when one is selected
    s.tell();
    const [sent, answers, rttMs] = s.module.checkConsent(s.srtcp, socket);
    if (answers > s.answers) {
      relayCounters.consentChecksAnswered += answers - s.answers;
      s.answers = answers;
      s.freshAt = now;
      s.loop.answered(rttMs);
    } else if (now - s.freshAt >= consentTiming.timeoutMs) {
      stop(s);
      s.loop.expire();
      continue;
    }
    if (sent) {
      relayCounters.consentChecksSentNatively++;
      s.loop.sent();
    }
  }
}

function start(s: Session): void {
  sessions.add(s);
  timer ??= every(consentTiming.tickMs, tick);
}

function stop(s: Session): void {
  sessions.delete(s);
  if (sessions.size === 0 && timer) {
    timer.stop();
    timer = undefined;
  }
}

/**
 * Runs the agent's consent checks natively from now on; `take` takes werift's loop (calling back
 * when werift would restart it), `tell` gives the module the agent's current credentials. Returns
 * how to give the loop back to werift, or why it cannot be taken.
 */
export function checkConsentNatively(module: NativeModule, srtcp: object, take: (restarted: () => void) => ConsentLoop | string, tell: () => void): (() => void) | string {
  let session: Session | undefined;
  const loop = take(() => {
    // A pair selected anew: consent is fresh from now, and checked at the next interval.
    if (!session) return;
    session.freshAt = performance.now();
    session.nextAt = session.freshAt + jitter();
    start(session);
  });
  if (typeof loop === 'string') return loop;
  const now = performance.now();
  session = { module, srtcp, loop, tell, nextAt: now + jitter(), freshAt: now, answers: 0 };
  start(session);
  return () => {
    stop(session);
    loop.release();
  };
}
