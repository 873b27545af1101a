/**
 * Python's aiortc (Debian's python3-aiortc) as a WHIP publisher or WHEP player: the scripts in
 * test/peers print one JSON object per line; closing their stdin makes them DELETE their session
 * and exit. Every process gets a deadline and is killed at `stop()` if it has not ended.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';

/** Why aiortc cannot run here, or undefined when it can. */
export function aiortcMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import aiortc, numpy'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `python3-aiortc is not installed: ${r.stderr || r.error}`;
}

export type PeerEvent = { event: string } & Record<string, unknown>;

export interface AiortcPeer {
  proc: ChildProcess;
  events: PeerEvent[];
  /** The first event (seen or to come) that `match` accepts. */
  next(match: (e: PeerEvent) => boolean, timeoutMs: number, what: string): Promise<PeerEvent>;
  /** Close stdin (the peer DELETEs its session), wait for exit; kill it if it lingers. */
  stop(): Promise<void>;
  /** stderr, for failure messages. */
  stderr(): string;
}

export function startPeer(script: 'aiortc_whep.py' | 'aiortc_whip.py', args: string[], deadlineMs = 120_000): AiortcPeer {
  const path = fileURLToPath(new URL(`../peers/${script}`, import.meta.url));
  const proc = spawn(PYTHON, [path, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: PeerEvent[] = [];
  /** What went on lately, for failure messages: the last events besides the frame counts, and the last count. */
  const recent = () => JSON.stringify([...events.filter((e) => e.event !== 'frames').slice(-5), events.filter((e) => e.event === 'frames').at(-1)]);
  const waiters = new Set<() => void>();
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as PeerEvent);
    } catch {
      err += `${line}\n`;
    }
    for (const wake of waiters) wake();
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  void exited.then(() => [...waiters].forEach((wake) => wake()));
  const deadline = setTimeout(() => proc.kill('SIGKILL'), deadlineMs);
  return {
    proc,
    events,
    stderr: () => err,
    next(match, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (found) return done(() => resolve(found));
          if (proc.exitCode !== null || proc.signalCode !== null) {
            done(() => reject(new Error(`aiortc exited before ${what}; events: ${recent()}\n${err}`)));
          }
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last events: ${recent()}\n${err}`))),
          timeoutMs,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      proc.stdin.end();
      const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      clearTimeout(deadline);
    },
  };
}
