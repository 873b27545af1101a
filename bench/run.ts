/**
 * `npm run bench [-- suite,suite]`: measures lancast on this machine and prints tables; writes
 * bench/results/bench-<time>.json, latest.json and latest.md. Suites: first-frame, quality,
 * scaling, load, sockets, hardening (default: all, about 14 minutes).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CHROMIUM } from '../test/helpers/browser.js';
import { firstFrames, quality } from './compare.js';
import { relayLoad } from './relay/load.js';
import { scaling } from './scaling.js';
import { sockets, type SocketsResult } from './sockets.js';
import { hardening, type HardeningResult } from './hardening.js';

const SUITES = ['first-frame', 'quality', 'scaling', 'load', 'sockets', 'hardening'] as const;
type Suite = (typeof SUITES)[number];
const chosen = (process.argv[2] ?? SUITES.join(',')).split(',') as Suite[];
for (const s of chosen) if (!SUITES.includes(s)) throw new Error(`unknown suite "${s}"; choose from ${SUITES.join(', ')}`);

function table(title: string, rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
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
  add('quality', () => "Publisher's encoder target and viewer bitrate after 15 s", (v: Rows) => v);
  add('scaling', () => "Broadcaster's CPU and viewers' frame rate as a room grows", (v: Rows) => v);
  add('relayLoad', (v: { maxViewersUnder1PctLoss: number }) => `Relay load (largest count under 1% loss: ${v.maxViewersUnder1PctLoss})`, (v: { steps: Rows }) => v.steps);
  add('sockets', () => '2,000 signaling sockets on one room', (v: SocketsResult) => [{ ...v, joinWaveMs: v.joinWaveMs.join(' ') }]);
  add('hardening', (v: HardeningResult) => `Hostile input and faults (tests ${v.passed ? 'passed' : 'FAILED'})`, (v: HardeningResult) => [...v.figures, ...(v.failures ?? []).map((f) => ({ figure: `FAILED ${f}` }))]);
  return out;
}

if (chosen.includes('first-frame')) {
  console.error('first-frame: 20 joins per mode…');
  results.firstFrame = await firstFrames(20);
}
if (chosen.includes('quality')) {
  console.error('quality: 15 s per mode and content…');
  results.quality = [...(await quality('fake camera')), ...(await quality('noise'))];
}
if (chosen.includes('scaling')) {
  console.error('scaling: 1 to 8 viewers per mode…');
  results.scaling = await scaling();
}
if (chosen.includes('load')) {
  console.error('load: headless relay viewers of a 720p WHIP stream…');
  results.relayLoad = await relayLoad([10, 20, 40, 80, 120, 160]);
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
