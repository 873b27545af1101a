/**
 * `npm run bench [-- suite,suite]`: measures lancast on this machine and prints tables; writes
 * bench/results/bench-<time>.json, latest.json and latest.md. Suites: first-frame, quality,
 * latency, scaling, idle, hotpath, load, rooms, janus, sockets, hardening, recording, sources, cluster (default: all, about
 * 45 minutes).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CHROMIUM } from '../test/helpers/browser.js';
import { firstFrames, quality } from './compare.js';
import { latency } from './latency.js';
import { hotPath, hotPathThreads, type HotPathRow } from './relay/hotpath.js';
import { relayLoad, type LoadRun } from './relay/load.js';
import { scaling } from './scaling.js';
import { sockets, type SocketsResult } from './sockets.js';
import { hardening, type HardeningResult } from './hardening.js';
import { idle } from './idle.js';
import { recordingBench } from './recording.js';
import { sources, type SourcesResult } from './sources.js';
import { clusterBench, type ClusterResult } from './cluster.js';
import { layerAdaptation, type LayerAdaptation } from './simulcast.js';
import { rooms } from './rooms.js';
import { janusBench, type JanusResult } from './janus.js';

const SUITES = ['first-frame', 'latency', 'quality', 'scaling', 'idle', 'hotpath', 'load', 'rooms', 'janus', 'sockets', 'hardening', 'recording', 'sources', 'cluster'] as const;
type Suite = (typeof SUITES)[number];
const chosen = (process.argv[2] ?? SUITES.join(',')).split(',') as Suite[];
for (const s of chosen) if (!SUITES.includes(s)) throw new Error(`unknown suite "${s}"; choose from ${SUITES.join(', ')}`);

function table(title: string, rows: Record<string, unknown>[] | undefined): string {
  if (!rows || rows.length === 0) return '';
  const keys = Object.keys(rows[0]);
  const line = (cells: unknown[]) => `| ${cells.map((c) => (Array.isArray(c) ? c.join(' / ') : String(c))).join(' | ')} |`;
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
  add(
    'layers',
    (v: LayerAdaptation) => `Relay viewers' layers (simulcast 960x540, one viewer capped at 600 kbit/s and lifted, ${v.rounds} rounds)`,
    (v: LayerAdaptation) => [
      { measure: 'switch down after the cap (ms)', p50: v.switchDownMsP50, p95: v.switchDownMsP95 },
      { measure: 'longest pause around the switch (ms, worst round)', p50: '-', p95: v.freezeAtSwitchMsMax },
      { measure: 'back on the top layer after the cap lifts (ms)', p50: v.recoverMsP50, p95: v.recoverMsP95 },
      ...v.layers.map((l) => ({ measure: `layer ${l.height}p bitrate (kbit/s)`, p50: l.kbps, p95: l.paused ? 'paused at the end (no viewer)' : '-' })),
      { measure: 'relay CPU per forwarded packet, simulcast / single (µs), 3 viewers', p50: `${v.cpuPerPacketUs.simulcast} / ${v.cpuPerPacketUs.single}`, p95: `ratio ${v.cpuPerPacketUs.ratio}` },
      ...(v.cpuPerPacketUs23 ? [{ measure: 'the same, 23 viewers (20 from the load generator)', p50: `${v.cpuPerPacketUs23.simulcast} / ${v.cpuPerPacketUs23.single}`, p95: `ratio ${v.cpuPerPacketUs23.ratio}` }] : []),
    ],
  );
  add('scaling', () => "Broadcaster's CPU and viewers' frame rate as a room grows", (v: Rows) => v);
  add('idle', () => 'A room nobody watches: server CPU (% of a core) and the broadcaster\'s, steady window', (v: Rows) => v);
  add('hotPath', () => 'Forwarding hot path alone: CPU per packet per viewer (µs), 100 viewers, 1,157-byte packets', (v: { rows: HotPathRow[] }) => v.rows as unknown as Rows);
  add('hotPath', () => 'Forwarding hot path on 1 and 2 threads at once (native, GCM, 100 viewers per thread, no load generator)', (v: { threads: Rows }) => v.threads);
  add('relayLoad', () => 'Relay load: 2.5 Mbit/s synthetic 720p30 publisher, headless viewers, per thread layout', (v: { runs: LoadRun[] }) => v.runs.flatMap((r) => r.steps) as unknown as Rows);
  add('relayCapacity', () => 'Relay capacity (cost-based figures use the measured CPU per forwarded packet)', (v: Rows) => v);
  add('rooms', () => 'Small rooms as browsers load them: one WHIP publisher (libwebrtc), N libwebrtc WHEP viewers; server CPU % of a core, µs per delivered packet', (v: { rows: Rows }) => v.rows);
  add('rooms', () => 'Small rooms: layouts not grown to every size', (v: { failures?: string[] }) => (v.failures ?? []).map((f) => ({ failure: f })));
  add('rooms', () => 'Small rooms: each layout as a line through its watched sizes (marginal µs per delivered packet, fixed % of a core)', (v: { fits: Rows }) => v.fits);
  add(
    'janus',
    (v: JanusResult) =>
      `lancast and Janus 1.1.2 side by side: one GStreamer feed (VP8 + Opus, ~110 packets/s; WHIP to lancast, RTP to Janus's streaming plugin), the same libwebrtc viewers; whole-process CPU % of a core, µs per delivered packet, lancast/Janus (target ≤ 0.5 at 5 and 15 viewers); load average ${v.loadAverage ? `${v.loadAverage.before} before, ${v.loadAverage.after} after` : '-'}`,
    (v: JanusResult) => (v.skipped ? [{ janus: v.skipped }] : (v.sideBySide as unknown as Rows)),
  );
  // Janus does not count its packets cheaply (NaN, null once written as JSON): '-' there.
  const counted = (n: number | null) => (n !== null && Number.isFinite(n) ? n : '-');
  add('janus', () => 'lancast and Janus side by side: each window', (v: JanusResult) => v.rows.map((r) => ({ ...r, publisherPacketsPerSecond: counted(r.publisherPacketsPerSecond), sentPerSecond: counted(r.sentPerSecond) })));
  add('janus', () => 'lancast and Janus side by side: not grown to every size', (v: JanusResult) => v.failures.map((f) => ({ failure: f })));
  add('janus', () => 'lancast and Janus side by side: each server as a line through its watched sizes', (v: JanusResult) => v.fits as unknown as Rows);
  add('sockets', () => '2,000 signaling sockets on one room', (v: SocketsResult) => [{ ...v, joinWaveMs: v.joinWaveMs.join(' ') }]);
  add('recording', () => 'Recording: server CPU (% of a core) without and with one recording of the same room, and with 5 viewers instead; bytes written', (v: Rows) => v);
  add('sources', () => "Switching the source while live: the broadcast page's change event to a viewer's first frame of the new source (ms)", (v: SourcesResult) => v.switches as unknown as Rows);
  add('sources', (v: SourcesResult) => `Presets: PSNR of shared 12 px text (luma, 3 s in), and the broadcaster's Chromium CPU (% of a core) sharing moving content (${v.movingPageAloneCpuPercent} % with that page open and nothing broadcast)`, (v: SourcesResult) => v.presets as unknown as Rows);
  add('cluster', () => 'Several nodes: glass-to-glass latency straight from the origin and through one edge, one run (ms)', (v: ClusterResult) => v.latency);
  add('cluster', () => 'Several nodes: the same, round by round (both viewers opened together, read in the same window after a warm-up; ms)', (v: ClusterResult) => v.latencyRounds);
  add('cluster', () => "Several nodes: the origin's CPU (% of a core) serving its own viewers or edges (one upstream each)", (v: ClusterResult) => v.cpu);
  add('cluster', () => 'Several nodes: a viewer playing again after its node died (ms)', (v: ClusterResult) => v.recovery);
  add('hardening', (v: HardeningResult) => `Hostile input and faults (tests ${v.passed ? 'passed' : 'FAILED'})`, (v: HardeningResult) => [...v.figures, ...(v.failures ?? []).map((f) => ({ figure: `FAILED ${f}` }))]);
  return out;
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : NaN;
};

/**
 * What the load runs say about capacity, per layout:
 * - measured: the largest step where every viewer connected and loss stayed under 1 %; and the
 *   most viewers that were connected and under 1 % loss in any step (a few viewers of a join
 *   burst can fail their handshake while the rest play);
 * - by cost: the CPU each viewer costs the threads that forward to it (each worker thread's own
 *   CPU from /proc, or the whole process without workers), the median over the layout's steps
 *   without loss, so one noisy window does not decide; then the viewers the layout's cores hold
 *   at that cost, after what the main thread takes of them.
 * The 2-core/1-core ratios compare the 2-core layout with the better 1-core layout.
 */
function capacity(runs: LoadRun[]): Rows {
  const rows = runs.map((run) => {
    const clean = run.steps.filter((s) => s.lossPercent < 1 && (s.deliveredPercent ?? 100) >= 99 && s.connected > 0);
    const perViewer = clean.map((s) => {
      const cpu = run.workers > 0 ? s.workerCpuPercent.split(' ').reduce((sum, c) => sum + Number(c), 0) : s.serverCpuPercent;
      return cpu / s.connected;
    });
    const cost = median(perViewer);
    const main = median(clean.map((s) => (run.workers > 0 ? s.mainThreadCpuPercent : 0)));
    const last = clean.at(-1);
    return {
      layout: run.layout,
      workers: run.workers,
      cores: run.cores,
      measuredMaxViewersUnder1PctLoss: run.maxViewersUnder1PctLoss,
      mostConnectedUnder1PctLoss: Math.max(0, ...clean.map((s) => (s.receiving >= 0 ? Math.min(s.connected, s.receiving) : s.connected))),
      // A layout with no clean step has no cost to report (the table shows "-", not NaN).
      cpuPercentPerViewer: Number.isFinite(cost) ? Math.round(cost * 1000) / 1000 : '-',
      usPerForwardedPacket: clean.length ? median(clean.map((s) => s.usPerForwardedPacket)) : '-',
      mainThreadCpuPercent: clean.length ? main : '-',
      viewersOnThoseCoresByCost: Number.isFinite(cost) ? Math.round((run.cores * 100 - main) / cost) : 0,
      generatorCpuPercentAtLargest: last?.generatorCpuPercent ?? '-',
      idleCpuPercentNoViewers: run.idleCpuPercent.publisherNoViewers,
      idleCpuPercentEmpty: run.idleCpuPercent.empty,
      memoryPerViewerKiB: last ? Math.round(((last.serverRssMiB - run.baselineRssMiB) * 1024) / last.connected) : '-',
    };
  });
  type Key = 'measuredMaxViewersUnder1PctLoss' | 'mostConnectedUnder1PctLoss' | 'viewersOnThoseCoresByCost';
  // The headline figures are the browser-like viewers'; the light generator's row is there to compare.
  const best = (cores: number, key: Key) => Math.max(0, ...rows.filter((r) => r.cores === cores && !r.layout.includes('light viewers')).map((r) => r[key]));
  const ratio = (key: Key) => {
    const one = best(1, key);
    const two = best(2, key);
    return one > 0 && two > 0 ? Math.round((two / one) * 100) / 100 : '-';
  };
  return rows.map((r) => ({
    ...r,
    twoCoresOverOne: r.cores === 2 ? `measured ${ratio('measuredMaxViewersUnder1PctLoss')}, connected ${ratio('mostConnectedUnder1PctLoss')}, by cost ${ratio('viewersOnThoseCoresByCost')}` : '-',
  }));
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
  console.error('quality: relay layers, a capped viewer (3 rounds), CPU with and without simulcast…');
  results.layers = await layerAdaptation(3);
}
if (chosen.includes('scaling')) {
  console.error('scaling: 1 to 8 viewers per mode…');
  results.scaling = await scaling();
}
if (chosen.includes('idle')) {
  console.error('idle: an empty server, and a relayed room with no viewers, sending and paused…');
  results.idle = await idle();
}
if (chosen.includes('hotpath')) {
  console.error('hotpath: the forwarding path alone, part by part…');
  results.hotPath = { ...(await hotPath()), threads: await hotPathThreads() };
}
if (chosen.includes('load')) {
  console.error('load: headless relay viewers of a 2.5 Mbit/s stream, sending what libwebrtc sends: 1 core (server pinned to CPU 0, generators on CPU 1) with the main thread alone and with 1 worker (and the light generator beside it); 2 cores with 2 workers…');
  const twoCores = availableParallelism() >= 2;
  const runs = [
    ...(twoCores
      ? [
          await relayLoad([150, 200, 250, 300, 350], 0, { serverCpus: '0', generatorCpus: '1' }),
          await relayLoad([200, 250, 300, 350, 400, 450, 500, 550, 600], 1, { serverCpus: '0', generatorCpus: '1' }),
          // The same with the light generator (before its viewers sent what libwebrtc sends), beside it.
          await relayLoad([200, 300, 400, 500, 600], 1, { serverCpus: '0', generatorCpus: '1', viewers: 'light' }),
          await relayLoad([300, 400, 450, 500, 550, 600, 700], 2),
        ]
      : [await relayLoad([100, 200], 0), await relayLoad([100, 200, 300, 400], 1)]),
  ];
  results.relayLoad = { runs };
  results.relayCapacity = capacity(runs);
}
if (chosen.includes('rooms')) {
  console.error('rooms: the kernel floor (the room\'s packets to 0-40 receivers through the native fan-out alone); one relayed room of 0, 5, 10, 20, 40 libwebrtc viewers, with and without worker threads; then 0, 5, 20, 100, 300 load-generator viewers…');
  results.rooms = await rooms();
}
if (chosen.includes('janus')) {
  console.error('janus: lancast (as started) and Janus 1.1.2 at once, each with a GStreamer feed, 0, 5, 15 libwebrtc viewers each, three windows a size…');
  results.janus = await janusBench();
}
if (chosen.includes('sockets')) {
  console.error('sockets: 2,000 viewer WebSockets on one room…');
  results.sockets = await sockets(2_000);
}
if (chosen.includes('cluster')) {
  process.stderr.write('cluster: 4 nodes on one Redis: latency through an edge, origin CPU with edges, recovery when an edge dies\n');
  results.cluster = await clusterBench();
}
if (chosen.includes('sources')) {
  process.stderr.write('sources: switches while live (p2p, relay), then each preset: text sharpness and CPU on moving content\n');
  results.sources = await sources();
}
if (chosen.includes('recording')) {
  process.stderr.write('recording: CPU with and without a recording, bytes per minute\n');
  results.recording = await recordingBench(20);
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
