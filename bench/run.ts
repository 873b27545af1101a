/**
 * `npm run bench [-- suite,suite]`: measures lancast on this machine and prints tables; writes
 * bench/results/bench-<time>.json, latest.json and latest.md. Suites: first-frame, quality,
 * latency, scaling, hotpath, load, sockets, hardening (default: all, about 25 minutes).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CHROMIUM } from '../test/helpers/browser.js';
import { firstFrames, quality } from './compare.js';
import { latency } from './latency.js';
import { hotPath, hotPathThreads, type HotPathRow } from './relay/hotpath.js';
import { relayLoad, type LoadRun } from './relay/load.js';
import { scaling } from './scaling.js';
import { sockets, type SocketsResult } from './sockets.js';
import { hardening, type HardeningResult } from './hardening.js';

const SUITES = ['first-frame', 'latency', 'quality', 'scaling', 'hotpath', 'load', 'sockets', 'hardening'] as const;
type Suite = (typeof SUITES)[number];
const chosen = (process.argv[2] ?? SUITES.join(',')).split(',') as Suite[];
for (const s of chosen) if (!SUITES.includes(s)) throw new Error(`unknown suite "${s}"; choose from ${SUITES.join(', ')}`);

function table(title: string, rows: Record<string, unknown>[] | undefined): string {
  if (!rows || rows.length === 0) return '';
  const keys = Object.keys(rows[0]!);
  const line = (cells: unknown[]) => `| ${cells.map(String).join(' | ')} |`;
  return [`### ${title}`, '', line(keys), line(keys.map(() => '---')), ...rows.map((r) => line(keys.map((k) => r[k]))), ''].join('\n');
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  chromium: (() => {
    try {
      return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })(),
};

const results: Record<string, unknown> = { date: new Date().toISOString(), machine };
type Rows = Record<string, unknown>[];

/** Every suite's table, from whatever results are at hand. */
function render(all: Record<string, unknown>): string[] {
  const out: string[] = [];
  const add = (key: string, title: (v: never) => string, rows: (v: never) => Rows) => {
    if (all[key] !== undefined) out.push(table(title(all[key] as never), rows(all[key] as never)));
  };
  add('firstFrame', () => 'Opening the watch page to its first frame (ms)', (v: Rows) => v);
  // Every row gets the relay's added-latency columns (the table takes its columns from the first row, p2p's).
  add('latency', () => 'Glass-to-glass latency, clock drawn into the picture and read back (ms)', (v: Rows) => v.map((r) => ({ ...r, addedP50: r.addedP50 ?? '-', addedP95: r.addedP95 ?? '-' })));
  add('quality', () => "Publisher's encoder target and viewer bitrate after 15 s", (v: Rows) => v);
  add('scaling', () => "Broadcaster's CPU and viewers' frame rate as a room grows", (v: Rows) => v);
  add('hotPath', () => 'Forwarding hot path alone: CPU per packet per viewer (µs), 100 viewers, 1,157-byte packets', (v: { rows: HotPathRow[] }) => v.rows as unknown as Rows);
  add('hotPath', () => 'Forwarding hot path on 1 and 2 threads at once (native, GCM, 100 viewers per thread, no load generator)', (v: { threads: Rows }) => v.threads);
  add('relayLoad', () => 'Relay load: 2.5 Mbit/s synthetic 720p30 publisher, headless viewers, per thread layout', (v: { runs: LoadRun[] }) => v.runs.flatMap((r) => r.steps) as unknown as Rows);
  add('relayCapacity', () => 'Relay capacity (cost-based figures use the measured CPU per forwarded packet)', (v: Rows) => v);
  add('sockets', () => '2,000 signaling sockets on one room', (v: SocketsResult) => [{ ...v, joinWaveMs: v.joinWaveMs.join(' ') }]);
  add('hardening', (v: HardeningResult) => `Hostile input and faults (tests ${v.passed ? 'passed' : 'FAILED'})`, (v: HardeningResult) => [...v.figures, ...(v.failures ?? []).map((f) => ({ figure: `FAILED ${f}` }))]);
  return out;
}

/**
 * What the load runs say about capacity. Per layout, at its largest step without loss: the server's
 * CPU per forwarded packet and the viewers one core holds at that cost (1 s of CPU / (cost x
 * packets each viewer gets per second)). Then the viewers the layout would hold on as many cores
 * as it has workers: the whole process's CPU sets one bound (viewers x 100 % x cores / its CPU);
 * with workers, each worker thread's own CPU (from /proc, not its event-loop share) sets another
 * (the sum over workers of its viewers x 100 % / its CPU); the smaller one counts.
 */
function capacity(runs: LoadRun[]): Rows {
  const rows = runs.map((run) => {
    const ok = run.steps.filter((s) => s.lossPercent < 1 && s.connected === s.viewers);
    const s = ok.at(-1) ?? run.steps.at(-1);
    if (!s) return { workers: run.workers };
    const perViewerPps = s.packetsForwardedPerSecond / s.viewers;
    const cores = Math.max(1, run.workers);
    const byProcess = (s.viewers * 100 * cores) / Math.max(1, s.serverCpuPercent);
    const cpu = s.workerCpuPercent.split(' ').map(Number);
    const legs = s.workerViewers.split(' ').map(Number);
    const byThreads = run.workers > 0 && cpu.every((c) => c > 0) ? cpu.reduce((sum, c, i) => sum + ((legs[i] ?? 0) * 100) / c, 0) : byProcess;
    return {
      workers: run.workers,
      measuredMaxViewersUnder1PctLoss: run.maxViewersUnder1PctLoss,
      atViewers: s.viewers,
      usPerForwardedPacket: s.usPerForwardedPacket,
      mainThreadCpuPercent: s.mainThreadCpuPercent,
      workerCpuPercent: s.workerCpuPercent,
      viewersPerCoreByCost: Math.round(1e6 / (s.usPerForwardedPacket * perViewerPps)),
      cores,
      viewersOnThoseCoresByCost: Math.round(Math.min(byProcess, byThreads)),
      idleCpuPercentNoViewers: run.idleCpuPercent.publisherNoViewers,
      idleCpuPercentEmpty: run.idleCpuPercent.empty,
      memoryPerViewerKiB: Math.round(((s.serverRssMiB - run.baselineRssMiB) * 1024) / s.viewers),
      generatorCpuPercent: s.generatorCpuPercent,
    };
  });
  const one = rows.find((r) => r.workers === 1);
  const two = rows.find((r) => r.workers === 2);
  const c1 = one?.viewersOnThoseCoresByCost;
  const c2 = two?.viewersOnThoseCoresByCost;
  const ratio = c1 && c2 ? Math.round((c2 / c1) * 100) / 100 : undefined;
  return rows.map((r) => ({ ...r, twoCoresOverOne: r.workers === 2 ? (ratio ?? '-') : '-' }));
}

if (chosen.includes('first-frame')) {
  console.error('first-frame: 20 joins per mode…');
  results.firstFrame = await firstFrames(20);
}
if (chosen.includes('latency')) {
  console.error('latency: 10 s of timestamped frames per mode, in windows alternating p2p and relay…');
  results.latency = await latency(10);
}
if (chosen.includes('quality')) {
  console.error('quality: 15 s per mode and content…');
  results.quality = [...(await quality('fake camera')), ...(await quality('noise'))];
}
if (chosen.includes('scaling')) {
  console.error('scaling: 1 to 8 viewers per mode…');
  results.scaling = await scaling();
}
if (chosen.includes('hotpath')) {
  console.error('hotpath: the forwarding path alone, part by part…');
  results.hotPath = { ...(await hotPath()), threads: await hotPathThreads() };
}
if (chosen.includes('load')) {
  console.error('load: headless relay viewers of a 2.5 Mbit/s stream, for 0 (main thread), 1 and 2 worker threads…');
  const runs = [
    await relayLoad([100, 200], 0),
    await relayLoad([100, 200, 300], 1),
    await relayLoad([100, 200, 300, 400, 500], 2),
  ];
  results.relayLoad = { runs };
  results.relayCapacity = capacity(runs);
}
if (chosen.includes('sockets')) {
  console.error('sockets: 2,000 viewer WebSockets on one room…');
  results.sockets = await sockets(2_000);
}
if (chosen.includes('hardening')) {
  console.error('hardening: fuzzing, faults and a lossy path, in real browsers…');
  results.hardening = hardening();
}
console.log(`\n${render(results).join('\n')}`);

const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const stamp = String(results.date).replace(/[:.]/g, '-');
writeFileSync(`${dir}bench-${stamp}.json`, `${JSON.stringify(results, null, 2)}\n`);
// latest.json keeps every suite's most recent figures; a partial run updates only its own.
const latestFile = `${dir}latest.json`;
const previous = existsSync(latestFile) ? (JSON.parse(readFileSync(latestFile, 'utf8')) as Record<string, unknown>) : {};
const latest = { ...previous, ...results, suitesRunAt: { ...(previous.suitesRunAt as object), ...Object.fromEntries(chosen.map((c) => [c, results.date])) } };
writeFileSync(latestFile, `${JSON.stringify(latest, null, 2)}\n`);
const header = `# lancast benchmark\n\nMachine: ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.chromium}.\nEach suite's figures are from its latest run: ${JSON.stringify(latest.suitesRunAt)}.\nReproduce: \`npm run bench\` (or \`npm run bench -- <suite>\`).\n`;
writeFileSync(`${dir}latest.md`, `${header}\n${render(latest).join('\n')}`);
console.log(`\nwrote bench/results/bench-${stamp}.json, latest.json, latest.md`);
process.exit(0);
