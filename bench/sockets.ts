/**
 * Signaling at scale: 2,000 viewer WebSockets on one room (loopback), joining and leaving in
 * waves. Measures the server's memory per socket and how long a broadcast status change takes
 * to reach every viewer.
 */
import WebSocket from 'ws';
import { startLancast } from '../test/helpers/server.js';
import { rssMiB, sleep } from './lib.js';

interface Viewer {
  ws: WebSocket;
  live: boolean | undefined;
  liveAt: number;
}

export interface SocketsResult {
  sockets: number;
  joinWaveMs: number[];
  rssBaseMiB: number;
  rssLoadedMiB: number;
  kibPerSocket: number;
  offlineReachAllMs: number;
  liveReachAllMs: number;
  leaveWaveMs: number;
  rejoinWaveMs: number;
  /** How many viewers heard the broadcast go offline, and live again (each should be `sockets`). */
  heardOffline: number;
  heardLive: number;
  /** How many of the viewers that left and came back were told the room's status (`sockets` / 2). */
  rejoinedTold: number;
  errors: number;
}

export async function sockets(count = 2_000, wave = 250): Promise<SocketsResult> {
  const server = await startLancast({ args: ['--log-level', 'warn', '--max-sockets-per-address', String(count + 100), '--max-viewers', String(count + 100), '--mode', 'p2p'] });
  const viewers: Viewer[] = [];
  let errors = 0;
  const join = async (): Promise<Viewer> => {
    const ws = new WebSocket(server.wsUrl);
    const v: Viewer = { ws, live: undefined, liveAt: 0 };
    ws.on('error', () => errors++);
    ws.on('message', (data) => {
      const msg = JSON.parse((data as Buffer).toString()) as { type: string; live?: boolean };
      if ((msg.type === 'welcome' || msg.type === 'room') && msg.live !== undefined && msg.live !== v.live) {
        v.live = msg.live;
        v.liveAt = performance.now();
      }
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'join', role: 'viewer', room: 'crowd' }));
    return v;
  };
  /** Waits until every one of `group` passes `check` or the time is up; says how many passed. */
  const until = async (group: Viewer[], check: (v: Viewer) => boolean, timeoutMs: number): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    while (!group.every(check) && Date.now() < deadline) await sleep(5);
    return group.filter(check).length;
  };
  try {
    await sleep(1_000);
    const rssBase = rssMiB(server.proc.pid!);
    const broadcaster = new WebSocket(server.wsUrl);
    await new Promise((r) => broadcaster.once('open', r));
    broadcaster.on('message', () => undefined);
    broadcaster.send(JSON.stringify({ type: 'join', role: 'broadcaster', room: 'crowd', key: 'test-key' }));
    const joinWaveMs: number[] = [];
    while (viewers.length < count) {
      const t0 = performance.now();
      const batch = await Promise.all(Array.from({ length: Math.min(wave, count - viewers.length) }, join));
      viewers.push(...batch);
      await until(batch, (v) => v.live !== undefined, 30_000);
      joinWaveMs.push(Math.round(performance.now() - t0));
    }
    await sleep(1_000);
    const rssLoaded = rssMiB(server.proc.pid!);

    // A status change: the broadcaster leaves, every viewer must hear "offline"; then it returns.
    let t0 = performance.now();
    broadcaster.send(JSON.stringify({ type: 'leave' }));
    const heardOffline = await until(viewers, (v) => v.live === false, 30_000);
    const offlineReachAllMs = Math.round(Math.max(...viewers.map((v) => v.liveAt)) - t0);
    t0 = performance.now();
    broadcaster.send(JSON.stringify({ type: 'join', role: 'broadcaster', room: 'crowd', key: 'test-key' }));
    const heardLive = await until(viewers, (v) => v.live === true, 30_000);
    const liveReachAllMs = Math.round(Math.max(...viewers.map((v) => v.liveAt)) - t0);

    // Half leave in one wave, then come back.
    const half = viewers.splice(0, count / 2);
    t0 = performance.now();
    await Promise.all(half.map((v) => new Promise((r) => (v.ws.once('close', r), v.ws.close()))));
    const leaveWaveMs = Math.round(performance.now() - t0);
    t0 = performance.now();
    const back = await Promise.all(half.map(() => join()));
    const rejoinedTold = await until(back, (v) => v.live !== undefined, 30_000);
    viewers.push(...back);
    const rejoinWaveMs = Math.round(performance.now() - t0);
    broadcaster.close();

    return {
      sockets: count,
      joinWaveMs,
      rssBaseMiB: Math.round(rssBase),
      rssLoadedMiB: Math.round(rssLoaded),
      kibPerSocket: Math.round(((rssLoaded - rssBase) * 1024) / count),
      offlineReachAllMs,
      liveReachAllMs,
      leaveWaveMs,
      rejoinWaveMs,
      heardOffline,
      heardLive,
      rejoinedTold,
      errors,
    };
  } finally {
    for (const v of viewers) v.ws.terminate();
    await server.stop();
  }
}

if (process.argv[1]?.endsWith('sockets.ts')) console.log(await sockets());
