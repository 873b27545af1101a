/** Start the real lancast process (dist/cli.js) on an ephemeral loopback port. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const PUBLISH_KEY = 'test-key';

export interface Lancast {
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  wsUrl: string;
  publishKey: string;
  proc: ChildProcess;
  dataDir: string;
  output(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  args?: string[];
  /** Reuse a data dir (e.g. to restart on the same port and key). */
  dataDir?: string;
  port?: number;
  env?: NodeJS.ProcessEnv;
  /** Flags for node itself, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** How long to wait for the banner (ms); several processes starting on a loaded machine need longer. */
  readyTimeoutMs?: number;
}

export async function startLancast(options: StartOptions = {}): Promise<Lancast> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'lancast-test-')));
  const args = [
    ...(options.nodeArgs ?? []),
    CLI,
    '--host', '127.0.0.1',
    '--port', String(options.port ?? 0),
    '--data-dir', dataDir,
    '--publish-key', PUBLISH_KEY,
    '--no-qr',
    ...(options.args ?? []),
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A process left starting would outlive the test.
      proc.kill('SIGKILL');
      reject(new Error(`lancast did not start:\n${out}`));
    }, options.readyTimeoutMs ?? 15_000);
    const check = () => {
      const m = /is live on port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lancast exited with ${code}:\n${out}`));
    });
  });
  proc.removeAllListeners('exit');
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    publishKey: PUBLISH_KEY,
    proc,
    dataDir,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const code = await exited;
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

/** One room as `GET /api/rooms` shows it. */
export interface RoomInfo {
  name: string;
  live: boolean;
  viewers: number;
  mode: string;
  reason?: string;
  bitrate?: { in: number; out: number };
  /** The relay has asked the broadcaster to stop sending: nobody watches. */
  paused?: boolean;
  /** A simulcast broadcast's layers through the relay, lowest first; `paused`: the relay asked the broadcaster to stop it (nobody wants it). */
  layers?: { rid: string; width: number; height: number; bitsPerSecond: number; viewers: number; active: boolean; paused: boolean }[];
  protected?: boolean;
}

/** `GET /api/rooms` of the lancast at `url`. */
export async function listRooms(url: string): Promise<RoomInfo[]> {
  return ((await (await fetch(`${url}/api/rooms`)).json()) as { rooms: RoomInfo[] }).rooms;
}

export async function roomInfo(url: string, name: string): Promise<RoomInfo | undefined> {
  return (await listRooms(url)).find((r) => r.name === name);
}

/** A metric without labels from Prometheus text (undefined when it is not there). */
export function metricFrom(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** A metric without labels from `GET /metrics` (undefined when it is not exported). */
export async function metricValue(url: string, name: string): Promise<number | undefined> {
  return metricFrom(await (await fetch(`${url}/metrics`)).text(), name);
}
