/**
 * A second host on this machine: a network namespace joined to ours by a link (10.199.<n>.1 or
 * 10.201.<n>.1 here, .2 there), made by the test and removed at its end. Programs run
 * inside it through `ip netns exec`; its link can be cut and restored like a pulled cable.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

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
  /** A link made with a rate: change it (bits per second; 0 lifts the cap). */
  setRate(bitsPerSecond: number): void;
  /** An impaired link: change its loss (0..1, each way). */
  setLoss(loss: number): void;
  /** An impaired link: what it has carried each way so far, and what of that it dropped. */
  wireStats(): Promise<{ toGuest: WireWay; fromGuest: WireWay }>;
  remove(): void;
}

/** One way of an impaired link since it was made: IP packets (and their bytes) sent into it, and dropped by it. */
export interface WireWay {
  packets: number;
  bytes: number;
  droppedPackets: number;
  droppedBytes: number;
}

function disableIpv6(dev: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1');
  } catch {
    // a kernel without IPv6 has nothing to disable
  }
}

export interface Impairment {
  /** Probability of dropping each packet, each way (0.05 = 5 %). */
  loss: number;
  /** Added one-way delay, each way, in ms. */
  delayMs: number;
  /** A bottleneck each way, in bits per second, with a 100 ms drop-tail queue (0 or none: no cap). */
  rateBps?: number;
}

/**
 * With `impair`, the link is a userspace wire (test/helpers/impair.py, two TUN devices) that drops
 * and delays packets, for kernels without netem; otherwise a veth pair.
 */
export async function createTestHost(impair?: Impairment): Promise<TestHost> {
  const id = process.pid % 100000;
  const name = `lancast-${process.pid}-${impair ? 'i' : 'v'}`;
  const outer = `lc${id}${impair ? 'x' : 'a'}`;
  const inner = `lc${id}${impair ? 'y' : 'b'}`;
  const subnet = `10.${impair ? 201 : 199}.${process.pid % 250}`;
  const dir = mkdtempSync(join(tmpdir(), 'lancast-netns-'));
  let wire: ChildProcess | undefined;
  /** The wire's answers to "stats", a line each, waited for in order. */
  const statsWaiting: ((line: string) => void)[] = [];
  ip('netns', 'add', name);
  try {
    if (impair) {
      wire = spawn('python3', [fileURLToPath(new URL('./impair.py', import.meta.url)), inner, outer, String(impair.loss), String(impair.delayMs), String(impair.rateBps ?? 0)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        wire!.stdout!.once('data', () => resolve());
        wire!.once('exit', (code) => reject(new Error(`impair.py exited with ${code}`)));
      });
      createInterface({ input: wire.stdout! }).on('line', (line) => statsWaiting.shift()?.(line));
      ip('link', 'set', inner, 'netns', name);
      ip('addr', 'add', `${subnet}.1`, 'peer', `${subnet}.2`, 'dev', outer);
      ip('netns', 'exec', name, 'ip', 'addr', 'add', `${subnet}.2`, 'peer', `${subnet}.1`, 'dev', inner);
    } else {
      ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
      ip('link', 'set', inner, 'netns', name);
      ip('addr', 'add', `${subnet}.1/24`, 'dev', outer);
      ip('netns', 'exec', name, 'ip', 'addr', 'add', `${subnet}.2/24`, 'dev', inner);
    }
    // IPv4 only on the link: an IPv6 link-local address appears a second or two after the link
    // comes up (after duplicate address detection), and Chromium fails a page load that is under
    // way when an address changes (net::ERR_NETWORK_CHANGED).
    disableIpv6(outer);
    ip('netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ip('link', 'set', outer, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', inner, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    wire?.kill();
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
    setRate(bitsPerSecond) {
      if (!wire?.stdin) throw new Error('only an impaired link has a rate');
      wire.stdin.write(`rate ${Math.round(bitsPerSecond)}\n`);
    },
    setLoss(loss) {
      if (!wire?.stdin) throw new Error('only an impaired link has a loss');
      wire.stdin.write(`loss ${loss}\n`);
    },
    async wireStats() {
      if (!wire?.stdin) throw new Error('only an impaired link counts what it carries');
      const line = new Promise<string>((resolve) => statsWaiting.push(resolve));
      wire.stdin.write('stats\n');
      const stats = JSON.parse(await line) as Record<string, WireWay>;
      return { toGuest: stats[outer], fromGuest: stats[inner] };
    },
    remove() {
      wire?.kill();
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
