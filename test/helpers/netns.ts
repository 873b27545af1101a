/**
 * A second host on this machine: a network namespace joined to ours by a veth pair
 * (10.199.<n>.1 here, 10.199.<n>.2 there), made by the test and removed at its end. Programs run
 * inside it through `ip netns exec`; its link can be cut and restored like a pulled cable.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export interface TestHost {
  name: string;
  /** Our side's address: what the host inside reaches us on. */
  hostAddress: string;
  /** The address inside the namespace. */
  guestAddress: string;
  /** A wrapper that runs a program inside the namespace: `<wrapper> program args…`. */
  exec(program: string): string;
  cut(): void;
  restore(): void;
  remove(): void;
}

export function createTestHost(n = 199 + (process.pid % 50)): TestHost {
  const name = `lancast-${process.pid}`;
  const outer = `lc${process.pid % 100000}a`;
  const inner = `lc${process.pid % 100000}b`;
  const subnet = `10.199.${n % 250}`;
  const dir = mkdtempSync(join(tmpdir(), 'lancast-netns-'));
  ip('netns', 'add', name);
  try {
    ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
    ip('link', 'set', inner, 'netns', name);
    ip('addr', 'add', `${subnet}.1/24`, 'dev', outer);
    ip('link', 'set', outer, 'up');
    ip('netns', 'exec', name, 'ip', 'addr', 'add', `${subnet}.2/24`, 'dev', inner);
    ip('netns', 'exec', name, 'ip', 'link', 'set', inner, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    ip('netns', 'del', name);
    throw err;
  }
  return {
    name,
    hostAddress: `${subnet}.1`,
    guestAddress: `${subnet}.2`,
    exec(program) {
      const wrapper = join(dir, `in-${name}-${program.split('/').pop()}`);
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${name} ${program} "$@"\n`);
      chmodSync(wrapper, 0o755);
      return wrapper;
    },
    cut() {
      ip('netns', 'exec', name, 'ip', 'link', 'set', inner, 'down');
    },
    restore() {
      ip('netns', 'exec', name, 'ip', 'link', 'set', inner, 'up');
    },
    remove() {
      try {
        ip('link', 'del', outer);
      } catch {
        // gone with the namespace
      }
      try {
        ip('netns', 'del', name);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
