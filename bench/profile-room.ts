/**
 * Where a small room's CPU goes: the server under `node --cpu-prof` (main thread and every worker
 * thread write a profile), one WHIP publisher and N libwebrtc WHEP viewers as in the rooms bench,
 * profiled over a steady window; then each profile's self time by function and by area.
 *
 *   node --import tsx bench/profile-room.ts [viewers=20] [seconds=20] [relay-workers]
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lancastRoom, measureRoom } from './rooms.js';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Which part of the stack a function belongs to, from its file. */
export function area(url: string, name: string): string {
  if (!url) return name === '(garbage collector)' || name === '(program)' || name === '(idle)' ? name : `(native) ${name}`;
  const werift = /node_modules\/(werift[^/]*|@shinyoshiaki\/[^/]+)\/(?:lib\/)?(?:([^/]+)\/)?(?:src\/)?([^/]+)/.exec(url);
  if (werift) return `werift ${werift[2] ?? ''}/${werift[3]}`.replace(/\.js$/, '');
  const mod = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (mod) return mod[1];
  if (url.startsWith('node:')) return url;
  const own = /\/(src|dist)\/(.+?)\.[jt]s$/.exec(url);
  return own ? `lancast ${own[2]}` : url;
}

/** Self time per key over a profile's samples, in ms, and the window in ms. */
export function selfTime(profile: Profile, key: (n: Node) => string): { total: number; window: number; rows: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const ms = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])!;
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (node.callFrame.functionName === '(idle)') continue;
    total += dt;
    const k = key(node);
    ms.set(k, (ms.get(k) ?? 0) + dt);
  }
  return { total, window: (profile.endTime - profile.startTime) / 1000, rows: [...ms].sort((a, b) => b[1] - a[1]) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const viewers = Number(process.argv[2] ?? 20);
  const seconds = Number(process.argv[3] ?? 20);
  const workers = process.argv[4];
  const dir = mkdtempSync(join(tmpdir(), 'lancast-prof-'));
  const target = await lancastRoom('profiled', workers === undefined ? [] : ['--relay-workers', workers], ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  try {
    const rows = await measureRoom(target, [viewers], seconds, 3);
    console.log(JSON.stringify(rows[0]));
  } finally {
    await target.stop();
  }
  for (const file of readdirSync(dir)) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
    const byArea = selfTime(profile, (n) => area(n.callFrame.url, n.callFrame.functionName));
    const byFn = selfTime(profile, (n) => `${n.callFrame.functionName || '(anonymous)'} ${area(n.callFrame.url, n.callFrame.functionName)}:${n.callFrame.lineNumber}`);
    console.log(`\n## ${file}: busy ${Math.round(byArea.total)} ms of ${Math.round(byArea.window)} ms (whole run, setup included)`);
    for (const [k, v] of byArea.rows.slice(0, 25)) console.log(`${v.toFixed(0).padStart(7)} ms  ${((v / byArea.total) * 100).toFixed(1).padStart(5)} %  ${k}`);
    console.log('  -- functions');
    for (const [k, v] of byFn.rows.slice(0, 30)) console.log(`${v.toFixed(0).padStart(7)} ms  ${((v / byFn.total) * 100).toFixed(1).padStart(5)} %  ${k}`);
  }
  console.log(`\nprofiles in ${dir}`);
  process.exit(0);
}
