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
import { sockets } from './sockets.js';
import { hardening } from './hardening.js';

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
const sections: string[] = [`# lancast benchmark, ${results.date}`, '', `Machine: ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.chromium}.`, ''];
const emit = (title: string, rows: Record<string, unknown>[]) => {
  const text = table(title, rows);
  sections.push(text);
  console.log(`\n${text}`);
};

if (chosen.includes('first-frame')) {
  console.error('first-frame: 20 joins per mode…');
  const r = await firstFrames(20);
  results.firstFrame = r;
  emit('Opening the watch page to its first frame (ms)', r as unknown as Record<string, unknown>[]);
}
if (chosen.includes('quality')) {
  console.error('quality: 15 s per mode and content…');
  const r = [...(await quality('fake camera')), ...(await quality('noise'))];
  results.quality = r;
  emit("Publisher's encoder target and viewer bitrate after 15 s", r as unknown as Record<string, unknown>[]);
}
if (chosen.includes('scaling')) {
  console.error('scaling: 1 to 8 viewers per mode…');
  const r = await scaling();
  results.scaling = r;
  emit("Broadcaster's CPU and viewers' frame rate as a room grows", r as unknown as Record<string, unknown>[]);
}
if (chosen.includes('load')) {
  console.error('load: headless relay viewers of a 720p WHIP stream…');
  const r = await relayLoad([10, 20, 40, 80, 120, 160]);
  results.relayLoad = r;
  emit(`Relay load (largest count under 1% loss: ${r.maxViewersUnder1PctLoss})`, r.steps as unknown as Record<string, unknown>[]);
}

if (chosen.includes('sockets')) {
  console.error('sockets: 2,000 viewer WebSockets on one room…');
  const r = await sockets(2_000);
  results.sockets = r;
  emit('2,000 signaling sockets on one room', [{ ...r, joinWaveMs: r.joinWaveMs.join(' ') }] as unknown as Record<string, unknown>[]);
}

if (chosen.includes('hardening')) {
  console.error('hardening: fuzzing, faults and a lossy path, in real browsers…');
  const r = hardening();
  results.hardening = r;
  emit(`Hostile input and faults (tests ${r.passed ? 'passed' : 'FAILED'})`, r.figures);
}

const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const stamp = String(results.date).replace(/[:.]/g, '-');
writeFileSync(`${dir}bench-${stamp}.json`, `${JSON.stringify(results, null, 2)}\n`);
// latest.json keeps every suite's most recent figures; a partial run updates only its own.
const latestFile = `${dir}latest.json`;
const previous = existsSync(latestFile) ? (JSON.parse(readFileSync(latestFile, 'utf8')) as Record<string, unknown>) : {};
writeFileSync(latestFile, `${JSON.stringify({ ...previous, ...results }, null, 2)}\n`);
const latestMd = `${dir}latest.md`;
const kept = existsSync(latestMd) && chosen.length < SUITES.length ? `\n---\n\nEarlier, from a fuller run:\n\n${readFileSync(latestMd, 'utf8').split('\n').slice(2).join('\n')}` : '';
writeFileSync(latestMd, `${sections.join('\n')}\n${kept}`);
console.log(`\nwrote bench/results/bench-${stamp}.json, latest.json, latest.md`);
process.exit(0);
