/**
 * Relay load: one synthetic WHIP publisher (720p30-sized VP8 at exactly 2.5 Mbit/s plus audio)
 * and growing numbers of headless WHEP viewers (werift for ICE/DTLS, packets counted at the
 * socket). For each step, over a steady window: the server process's CPU (all threads, and its
 * main thread alone) per forwarded RTP packet, the viewers' loss, the server's memory, and what
 * the generators cost. Viewers arrive step by step (each step adds a generator process for its
 * new viewers). Runs once per layout: relay threads (`--relay-workers`) and, optionally, the
 * CPUs the server and the generators are pinned to (taskset), so "1 core" really is one core.
 * With `--server URL --key KEY --server-cores N` it loads a lancast running on another machine
 * instead, reading that server's CPU and memory from its /metrics: the way to measure what a
 * server's cores hold without the generators sharing them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, rssMiB } from '../../test/helpers/proc.js';
import { metricFrom, startLancast, type Lancast } from '../../test/helpers/server.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const TICKS = 100; // USER_HZ on Linux

async function metrics(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  if (!res.ok) throw new Error(`${base}/metrics answered ${res.status}`);
  return res.text();
}
const metric = (text: string, name: string): number => metricFrom(text, name) ?? 0;
/** The relay workers' Linux thread ids, by worker index. */
function workerThreadIds(text: string): number[] {
  return [...text.matchAll(/^lancast_relay_worker_info\{worker="(\d+)",thread_id="(\d+)"\} 1$/gm)].sort((a, b) => Number(a[1]) - Number(b[1])).map((m) => Number(m[2]));
}
function perWorker(text: string, name: string): number[] {
  return [...text.matchAll(new RegExp(`^${name}\\{worker="(\\d+)"\\} (\\S+)$`, 'gm'))].sort((a, b) => Number(a[1]) - Number(b[1])).map((m) => Number(m[2]));
}

/** CPU seconds of one thread of a process (the main thread's id is the process id). */
function threadCpuSeconds(pid: number, tid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

interface Report {
  /** When the generator read its counts (ms since the epoch): rates use these, not our clock. */
  at: number;
  viewers: number;
  failed: number;
  packets: number;
  lost: number;
  verified: number;
  pending?: Record<string, number>;
  /** Viewers whose RTP arrived in the last second (-1: not known). */
  receiving?: number;
}

/** A generator (subscribers.ts, synthetic-publisher.ts) in its own process, its last JSON report kept. */
export function child(script: string, args: string[], cpus?: string): { proc: ChildProcess; last: () => Report | undefined; first: Promise<string> } {
  const command = [process.execPath, '--import', 'tsx', here(script), ...args];
  // taskset execs node in place, so the child's pid is node's.
  const proc = cpus ? spawn('taskset', ['-c', cpus, ...command], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let last: Report | undefined;
  let resolveFirst!: (line: string) => void;
  const first = new Promise<string>((r) => (resolveFirst = r));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    resolveFirst(line);
    try {
      last = JSON.parse(line) as Report;
    } catch {
      // not a report
    }
  });
  return { proc, last: () => last, first };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LoadStep {
  layout: string;
  workers: number;
  viewers: number;
  connected: number;
  /** Of those, the viewers still receiving at the end of the window (-1: the JS sink cannot tell). */
  receiving: number;
  /** Viewers that had not connected when the step was measured, by ICE/peer connection state. */
  notConnected: string;
  serverCpuPercent: number;
  mainThreadCpuPercent: number;
  workerBusyPercent: string;
  /** Each worker thread's own CPU over the window (percent of a core), and its viewers. */
  workerCpuPercent: string;
  workerViewers: string;
  generatorCpuPercent: number;
  publisherCpuPercent: number;
  packetsForwardedPerSecond: number;
  inKbps: number;
  usPerForwardedPacket: number;
  mainThreadUsPerForwardedPacket: number;
  receivedPerSecond: number;
  /** Sequence gaps in what the viewers received. */
  lossPercent: number;
  /**
   * What reached the viewers, against what the connected viewers should have got (each of the
   * publisher's packets, as the server counted them in): a viewer that gets nothing at all shows
   * here, not in the sequence gaps.
   */
  deliveredPercent: number;
  serverRssMiB: number;
}

export interface LoadRun {
  /** e.g. "1 core, 1 worker": the CPUs the server may use and its relay threads. */
  layout: string;
  workers: number;
  /** How many cores the server could use (pinned with taskset, or the machine's). */
  cores: number;
  steps: LoadStep[];
  maxViewersUnder1PctLoss: number;
  /** Server RSS with the publisher and no viewers, MiB. */
  baselineRssMiB: number;
  /** Server CPU with a publisher and no viewers, and with nothing at all, percent of a core. */
  idleCpuPercent: { publisherNoViewers: number; empty: number };
}

/**
 * The server under load and where its CPU and memory are read: from /proc when this run started
 * it, from its /metrics when it runs on another machine (`--server`), so that the generators
 * need not share its cores.
 */
interface ServerProbe {
  url: string;
  key: string;
  /** CPU seconds so far: the whole process, its main thread (undefined: not known), each relay worker. */
  cpu(): Promise<{ process: number; main: number | undefined; workers: number[] }>;
  rssMiB(): Promise<number>;
  stop(): Promise<void>;
}

function localProbe(server: Lancast): ServerProbe {
  const pid = server.proc.pid!;
  return {
    url: server.url,
    key: 'test-key',
    async cpu() {
      const tids = workerThreadIds(await metrics(server.url));
      return { process: cpuSeconds(pid), main: threadCpuSeconds(pid, pid), workers: tids.map((tid) => threadCpuSeconds(pid, tid)) };
    },
    rssMiB: () => Promise.resolve(rssMiB(pid)),
    stop: async () => void (await server.stop()),
  };
}

/**
 * A server started elsewhere. prom-client reads the process's CPU when /metrics is fetched; each
 * worker's CPU time is refreshed once a second, so remote windows should be long (--window).
 */
function remoteProbe(url: string, key: string): ServerProbe {
  return {
    url,
    key,
    async cpu() {
      const text = await metrics(url);
      return { process: metric(text, 'lancast_process_process_cpu_seconds_total'), main: undefined, workers: perWorker(text, 'lancast_relay_worker_cpu_seconds') };
    },
    rssMiB: async () => metric(await metrics(url), 'lancast_process_process_resident_memory_bytes') / 2 ** 20,
    stop: async () => {},
  };
}

async function cpuPercentOver(server: ServerProbe, ms: number): Promise<number> {
  const c0 = (await server.cpu()).process;
  const t0 = Date.now();
  await sleep(ms);
  return Math.round((((await server.cpu()).process - c0) / ((Date.now() - t0) / 1000)) * 1000) / 10;
}

/** Every viewer connected and still receiving, loss under 1 %, and 99 % of the packets delivered. */
export function held(step: LoadStep): boolean {
  return step.lossPercent < 1 && step.deliveredPercent >= 99 && step.connected === step.viewers && (step.receiving < 0 || step.receiving === step.viewers);
}

export interface LoadOptions {
  /** Pin the server (all its threads) to these CPUs, e.g. "0"; the generators then get `generatorCpus`. */
  serverCpus?: string;
  generatorCpus?: string;
  windowMs?: number;
  /** Where the generator counts packets: the native sink (default) or JavaScript. */
  sink?: 'native' | 'js';
  /** What the viewers send back: what libwebrtc sends (default), or the light generator's little (see subscribers.ts). */
  viewers?: 'browser' | 'light';
  /**
   * Load a lancast already running elsewhere (its base URL and publish key) instead of starting
   * one here; `serverCores` then says how many cores it has, for the by-cost figures.
   */
  remote?: { url: string; key: string; serverCores: number };
}

export async function relayLoad(steps: number[], workers: number, options: LoadOptions = {}): Promise<LoadRun> {
  const windowMs = options.windowMs ?? 8_000;
  let server: ServerProbe;
  let cores: number;
  let layout: string;
  if (options.remote) {
    server = remoteProbe(options.remote.url, options.remote.key);
    cores = options.remote.serverCores;
    layout = `${options.remote.url} (${cores} core${cores === 1 ? '' : 's'}, its own workers)`;
  } else {
    const local = await startLancast({ args: ['--log-level', 'warn', '--relay-workers', String(workers), '--max-viewers', '100000', '--max-connections-per-address', '100000'] });
    const pid = local.proc.pid!;
    // -a: every thread, and threads started later (the relay workers) inherit the main thread's set.
    if (options.serverCpus) execFileSync('taskset', ['-a', '-p', '-c', options.serverCpus, String(pid)], { stdio: 'ignore' });
    server = localProbe(local);
    cores = options.serverCpus ? options.serverCpus.split(',').length : availableParallelism();
    layout = `${cores} core${cores === 1 ? '' : 's'}, ${workers === 0 ? 'main thread' : `${workers} worker${workers === 1 ? '' : 's'}`}${options.viewers === 'light' ? ', light viewers (the old generator)' : ''}`;
  }
  const room = `load-${process.pid}`;
  const results: LoadStep[] = [];
  const emptyCpu = await cpuPercentOver(server, 5_000);
  const publisher = child('./synthetic-publisher.ts', [server.url, room, server.key], options.generatorCpus);
  let baselineRssMiB: number;
  let publisherIdleCpu: number;
  try {
    const status = JSON.parse(await publisher.first) as { status: number };
    if (status.status !== 201) throw new Error(`publisher refused: ${status.status}`);
    // Steady state: past the publisher's first keyframes and the workers' start.
    await sleep(8_000);
    publisherIdleCpu = await cpuPercentOver(server, 10_000);
    baselineRssMiB = Math.round(await server.rssMiB());
    // Viewers arrive in batches: each step adds a generator process for the new viewers and
    // keeps the earlier ones, so a step's join burst is its increment, not all of its viewers.
    const subs: ReturnType<typeof child>[] = [];
    const sum = (key: 'viewers' | 'failed' | 'packets' | 'lost' | 'receiving') => subs.reduce((total, g) => total + (g.last()?.[key] ?? 0), 0);
    const generatorCpu = () => subs.reduce((total, g) => total + cpuSeconds(g.proc.pid!), 0);
    try {
      let have = 0;
      for (const n of steps) {
        const batch = child('./subscribers.ts', [server.url, room, String(n - have), '--sink', options.sink ?? 'native', '--viewers', options.viewers ?? 'browser'], options.generatorCpus);
        subs.push(batch);
        have = n;
        // Connect (DTLS handshakes queue up on a busy machine), keyframe, settle.
        const deadline = Date.now() + 15_000 + (n - (steps[steps.indexOf(n) - 1] ?? 0)) * 60;
        while (sum('viewers') + sum('failed') < n && Date.now() < deadline) await sleep(250);
        await sleep(3_000);
        const m0 = await metrics(server.url);
        const t0 = Date.now();
        const c0 = await server.cpu();
        const [gen0, pub0] = [generatorCpu(), cpuSeconds(publisher.proc.pid!)];
        const reports0 = subs.map((g) => g.last());
        const in0 = metric(m0, 'lancast_relay_packets_received_total');
        await sleep(windowMs);
        const seconds = (Date.now() - t0) / 1000;
        const c1 = await server.cpu();
        const [gen1, pub1] = [generatorCpu(), cpuSeconds(publisher.proc.pid!)];
        const m1 = await metrics(server.url);
        const [cpu0, cpu1] = [c0.process, c1.process];
        // Remotely there is no per-thread CPU: the main thread's share is what the workers did not use.
        const mainCpu = (c: typeof c0) => c.main ?? c.process - c.workers.reduce((a, b) => a + b, 0);
        const [main0, main1] = [mainCpu(c0), mainCpu(c1)];
        // Per generator, counts over the span between its own reports (they come once a second, so
        // our window's clock would be off by up to a second on each side).
        let [receivedRate, lostRate] = [0, 0];
        subs.forEach((g, i) => {
          const [a, b] = [reports0[i], g.last()];
          if (!a || !b || b.at <= a.at) return;
          receivedRate += ((b.packets - a.packets) * 1000) / (b.at - a.at);
          lostRate += ((b.lost - a.lost) * 1000) / (b.at - a.at);
        });
        const inRate = (metric(m1, 'lancast_relay_packets_received_total') - in0) / seconds;
        const expectedRate = inRate * sum('viewers');
        const forwarded = metric(m1, 'lancast_relay_packets_forwarded_total') - metric(m0, 'lancast_relay_packets_forwarded_total');
        const inBytes = metric(m1, 'lancast_relay_payload_bytes_received_total') - metric(m0, 'lancast_relay_payload_bytes_received_total');
        const pending: Record<string, number> = {};
        for (const g of subs) for (const [state, count] of Object.entries(g.last()?.pending ?? {})) pending[state] = (pending[state] ?? 0) + count;
        const step: LoadStep = {
          layout,
          workers,
          viewers: n,
          connected: sum('viewers'),
          receiving: subs.every((g) => (g.last()?.receiving ?? -1) >= 0) ? sum('receiving') : -1,
          notConnected: Object.entries(pending).map(([state, count]) => `${count} ${state}`).join(', ') || '-',
          serverCpuPercent: Math.round(((cpu1 - cpu0) / seconds) * 100),
          mainThreadCpuPercent: Math.round(((main1 - main0) / seconds) * 100),
          workerBusyPercent: perWorker(m1, 'lancast_relay_worker_utilization').map((u) => Math.round(u * 100)).join(' ') || '-',
          workerCpuPercent: c1.workers.map((c, i) => Math.round(((c - (c0.workers[i] ?? 0)) / seconds) * 100)).join(' ') || '-',
          workerViewers: perWorker(m1, 'lancast_relay_worker_viewers').join(' ') || '-',
          generatorCpuPercent: Math.round(((gen1 - gen0) / seconds) * 100),
          publisherCpuPercent: Math.round(((pub1 - pub0) / seconds) * 100),
          packetsForwardedPerSecond: Math.round(forwarded / seconds),
          inKbps: Math.round((inBytes * 8) / seconds / 1000),
          // Per packet the viewers saw sent (received or a gap): the workers report their own send
          // counts to the main thread only once a second, too coarse for an 8 s window.
          usPerForwardedPacket: receivedRate + lostRate > 0 ? Math.round(((cpu1 - cpu0) * 1e7) / seconds / (receivedRate + lostRate)) / 10 : 0,
          mainThreadUsPerForwardedPacket: receivedRate + lostRate > 0 ? Math.round(((main1 - main0) * 1e7) / seconds / (receivedRate + lostRate)) / 10 : 0,
          receivedPerSecond: Math.round(receivedRate),
          lossPercent: receivedRate + lostRate > 0 ? Math.round((lostRate / (receivedRate + lostRate)) * 1000) / 10 : 100,
          deliveredPercent: expectedRate > 0 ? Math.min(100, Math.round((receivedRate / expectedRate) * 1000) / 10) : 0,
          serverRssMiB: Math.round(await server.rssMiB()),
        };
        results.push(step);
        process.stderr.write(`  relay load: ${JSON.stringify(step)}\n`);
        if (!held(step)) break;
      }
    } finally {
      for (const g of subs) g.proc.kill('SIGTERM');
      await sleep(3_000);
    }
  } finally {
    publisher.proc.kill('SIGTERM');
    await sleep(500);
    await server.stop();
  }
  const ok = results.filter(held);
  return {
    layout,
    workers,
    cores,
    steps: results,
    maxViewersUnder1PctLoss: ok.length ? Math.max(...ok.map((s) => s.viewers)) : 0,
    baselineRssMiB,
    idleCpuPercent: { publisherNoViewers: publisherIdleCpu, empty: emptyCpu },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // node --import tsx bench/relay/load.ts <steps> [workers] [serverCpus] [generatorCpus] [native|js]
  // node --import tsx bench/relay/load.ts <steps> --server <url> --key <publish key> --server-cores <n> [--window <ms>]
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const value = args[i + 1];
    if (value === undefined) throw new Error(`${name} needs a value`);
    args.splice(i, 2);
    return value;
  };
  const url = flag('--server');
  const key = flag('--key');
  const serverCores = flag('--server-cores');
  const window = flag('--window');
  if (url && (!key || !serverCores)) throw new Error('--server needs --key (its publish key) and --server-cores (its cores, for the by-cost figures)');
  const steps = (args[0] ?? '50,100').split(',').map(Number);
  const [, workers = '2', serverCpus, generatorCpus, sink] = args;
  const remote = url ? { url: url.replace(/\/$/, ''), key: key!, serverCores: Number(serverCores) } : undefined;
  console.log(
    JSON.stringify(
      await relayLoad(steps, Number(workers), { serverCpus, generatorCpus, sink: sink as 'native' | 'js' | undefined, remote, windowMs: window ? Number(window) : undefined }),
      null,
      2,
    ),
  );
}
