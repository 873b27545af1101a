/**
 * One job for every leg's liveness check in a thread, not a timer per leg: a room of 40 viewers
 * would otherwise wake its thread 20 times a second for checks that find nothing to do. It runs
 * on the thread's batched timers (batched-timers.ts).
 */
import { every, type Job } from './batched-timers.js';

const checks = new Set<() => void>();
let timer: Job | undefined;

/** How often each check runs. */
export const LIVENESS_CHECK_MS = 2_000;

/** Runs `check` every LIVENESS_CHECK_MS until the returned function is called. */
export function watchLiveness(check: () => void): () => void {
  checks.add(check);
  if (!timer) {
    timer = every(LIVENESS_CHECK_MS, () => {
      for (const c of [...checks]) c();
    });
  }
  return () => {
    checks.delete(check);
    if (checks.size === 0 && timer) {
      timer.stop();
      timer = undefined;
    }
  };
}
