/**
 * The relay's periodic work on one thread (sender reports, consent checks, the publishers'
 * receiver reports and REMB, liveness checks) on one clock that rides on the media batches.
 *
 * Each job runs once it is due and at the latest `slackMs` later: at the thread's next batch of
 * media if one comes in between (ingress-gate.ts calls `runDue` after each), else when one timer,
 * set to the earliest such latest time, fires. In a routed room JavaScript takes the media every
 * ~250 ms (native/fanout.c RELAY_FLUSH_MS), so the jobs run inside those turns and Node's event
 * loop wakes for nothing else: each of its turns has a fixed cost (its timers' bookkeeping, its
 * check phase, the microtask checkpoint; docs/performance.md), which five separate timers paid
 * about eight times a second in a small room. A job's interval is its own; only its lateness,
 * bounded by its slack, depends on when the batches come.
 */

export interface Job {
  stop(): void;
}

/** How late a job may run by default, waiting for a batch (more than the batches' pace), or its interval when shorter. */
export const DEFAULT_SLACK_MS = 400;

interface Entry {
  /** When it is due next, and when it must run at the latest (ms, performance.now()). */
  dueAt: number;
  latestAt: number;
  interval: () => number;
  slackMs: number;
  run: () => void;
  stopped: boolean;
}

const jobs = new Set<Entry>();
let timer: NodeJS.Timeout | undefined;
/** What the timer is set to (ms, performance.now()); Infinity when it is not. */
let armedAt = Infinity;
/** When the earliest job is due (ms, performance.now()): a batch before it has nothing to look at. */
let earliestDue = Infinity;
let running = false;

/**
 * Runs `run` every `intervalMs` (a number, or a function asked for each next interval: a
 * randomised one), each time within `slackMs` after it is due. The first run is one interval on.
 */
export function every(intervalMs: number | (() => number), run: () => void, slackMs?: number): Job {
  const interval = typeof intervalMs === 'number' ? () => intervalMs : intervalMs;
  const first = interval();
  slackMs ??= Math.min(DEFAULT_SLACK_MS, first);
  const dueAt = performance.now() + first;
  const entry: Entry = { dueAt, latestAt: dueAt + slackMs, interval, slackMs, run, stopped: false };
  jobs.add(entry);
  arm();
  return {
    stop() {
      entry.stopped = true;
      jobs.delete(entry);
      if (jobs.size === 0) disarm();
    },
  };
}

/** Runs every job that is due now (the media batch's call, and the timer's). */
export function runDue(now = performance.now()): void {
  // Called for every batch (every packet where nothing is routed): most find nothing due.
  if (running || now < earliestDue) return;
  running = true;
  let failed: { err: unknown } | undefined;
  try {
    for (const entry of jobs) {
      if (entry.stopped || now < entry.dueAt) continue;
      // The next one is an interval after this one was due, or after now when it ran that late.
      const next = entry.dueAt + entry.interval();
      entry.dueAt = next > now ? next : now + entry.interval();
      entry.latestAt = entry.dueAt + entry.slackMs;
      try {
        entry.run();
      } catch (err) {
        // One job's failure is not the others': it is thrown, as a timer's would be, after them.
        failed ??= { err };
      }
    }
  } finally {
    running = false;
  }
  arm();
  if (failed) throw failed.err;
}

/** Notes when the earliest job is due, and sets the timer to the earliest time a job must run by, when that changed. */
function arm(): void {
  let earliest = Infinity;
  earliestDue = Infinity;
  for (const entry of jobs) {
    if (entry.latestAt < earliest) earliest = entry.latestAt;
    if (entry.dueAt < earliestDue) earliestDue = entry.dueAt;
  }
  if (earliest === armedAt) return;
  disarm();
  if (earliest === Infinity) return;
  armedAt = earliest;
  timer = setTimeout(
    () => {
      timer = undefined;
      armedAt = Infinity;
      runDue();
    },
    Math.max(0, earliest - performance.now()),
  );
  // Like the timers it replaces: the relay's periodic work keeps no process alive.
  timer.unref();
}

function disarm(): void {
  if (timer) clearTimeout(timer);
  timer = undefined;
  armedAt = Infinity;
}
