/**
 * One timer for every leg's liveness check in a thread, not one per leg: a room of 40 viewers
 * would otherwise wake its thread 20 times a second for checks that find nothing to do.
 */
const checks = new Set<() => void>();
let timer: NodeJS.Timeout | undefined;

/** How often each check runs. */
export const LIVENESS_CHECK_MS = 2_000;

/** Runs `check` every LIVENESS_CHECK_MS until the returned function is called. */
export function watchLiveness(check: () => void): () => void {
  checks.add(check);
  if (!timer) {
    timer = setInterval(() => {
      for (const c of [...checks]) c();
    }, LIVENESS_CHECK_MS);
    timer.unref();
  }
  return () => {
    checks.delete(check);
    if (checks.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
