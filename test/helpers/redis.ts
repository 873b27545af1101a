/** A real redis-server (Debian's) per test, on a free loopback port, stopped by its own id. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.js';
import { startLancast, type Lancast, type StartOptions } from './server.js';

export const REDIS_SERVER = process.env.LANCAST_REDIS_SERVER ?? '/usr/bin/redis-server';
export const CLUSTER_SECRET = 'test-cluster-secret';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  port: number;
  url: string;
  /** Stop it (SIGTERM, then wait for its exit). */
  stop(): Promise<void>;
  /** Start it again on the same port, empty (it keeps nothing on disk). */
  start(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const start = async () => {
    const p = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
      p.stdout.on('data', (d) => {
        out += d;
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${out}`));
      });
    });
    p.removeAllListeners('exit');
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGTERM');
      await exited;
    },
  };
}

/** A lancast node of the cluster on `redis`. */
export function startNode(redis: RedisServer, options: StartOptions = {}): Promise<Lancast> {
  return startLancast({ readyTimeoutMs: 45_000, ...options, args: ['--redis', redis.url, '--cluster-secret', CLUSTER_SECRET, ...(options.args ?? [])] });
}

export interface ClusterRig {
  redis: RedisServer;
  chromium: Browser;
  /** Nodes a test started: stopped after the file's tests if the test did not. */
  started: Lancast[];
  /** A new page of the rig's Chromium at `url`. */
  open(url: string): Promise<Page>;
  /** Stop these nodes now, and forget them. */
  stop(nodes: Lancast[]): Promise<void>;
}

/** What the cluster's browser test files set up first and tear down last: a Redis and a Chromium. */
export function clusterRig(): ClusterRig {
  const rig = {
    started: [] as Lancast[],
    async open(url: string) {
      const page = await rig.chromium.newPage();
      await page.goto(url);
      return page;
    },
    async stop(nodes: Lancast[]) {
      await Promise.all(nodes.map((n) => n.stop()));
      for (const n of nodes) rig.started.splice(rig.started.indexOf(n), 1);
    },
  } as ClusterRig;
  before(async () => {
    [rig.redis, rig.chromium] = await Promise.all([startRedis(), launchChromium()]);
  });
  after(async () => {
    await rig.chromium?.close();
    await Promise.all(rig.started.map((n) => n.stop()));
    await rig.redis?.stop();
  });
  return rig;
}
