// temporary: two rooms side by side, same windows
import { cpuSeconds } from '../test/helpers/proc.js';

import { lancastRoom } from './rooms.js';
import { GeneratorCrowd } from './generator-crowd.js';
const opts = process.env.GEN ? { crowd: (url: string, room: string) => new GeneratorCrowd(url, room) } : {};
const viewers = Number(process.argv[2] ?? 5);
const seconds = Number(process.argv[3] ?? 15);
const rounds = Number(process.argv[4] ?? 3);
const a = await lancastRoom('read', [], [], {}, opts);
const b = await lancastRoom('node', [], [], { LANCAST_NATIVE_READ: '0' }, opts);
if (viewers) { await a.crowd.grow(viewers); await b.crowd.grow(viewers); }
await new Promise((r) => setTimeout(r, 8000));
const res: Record<string, number[]> = { read: [], node: [] };
for (let i = 0; i < rounds; i++) {
  const c0 = [cpuSeconds(a.pid), cpuSeconds(b.pid)];
  const p0 = [await a.publisherPackets(), await b.publisherPackets()];
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const c1 = [cpuSeconds(a.pid), cpuSeconds(b.pid)];
  const p1 = [await a.publisherPackets(), await b.publisherPackets()];
  res.read.push(((c1[0] - c0[0]) / seconds) * 100);
  res.node.push(((c1[1] - c0[1]) / seconds) * 100);
  console.log(`round ${i}: read ${res.read.at(-1)!.toFixed(2)}% (${((p1[0] - p0[0]) / seconds).toFixed(0)} pkt/s)  node ${res.node.at(-1)!.toFixed(2)}% (${((p1[1] - p0[1]) / seconds).toFixed(0)} pkt/s)`);
}
const port = (t: typeof a) => t;
void port;
console.log('mean read', (res.read.reduce((x, y) => x + y) / rounds).toFixed(2), 'node', (res.node.reduce((x, y) => x + y) / rounds).toFixed(2));
await a.stop();
await b.stop();
process.exit(0);
