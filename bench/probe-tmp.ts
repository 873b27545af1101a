import { readdirSync, readFileSync } from 'node:fs';
import { lancastRoom, ViewerCrowd } from './rooms.js';
import { GeneratorCrowd } from './generator-crowd.js';
let URL = '';
const viewers = Number(process.argv[2] ?? 0);
const seconds = Number(process.argv[3] ?? 20);
const extra = process.argv.slice(4);
const t = await lancastRoom('probe', extra, process.env.NODE_ARGS ? process.env.NODE_ARGS.split(' ') : [], process.env.LANCAST_NATIVE_READ ? { LANCAST_NATIVE_READ: process.env.LANCAST_NATIVE_READ } : {}, { crowd: (url: string, room: string) => { URL = url; return process.env.GEN ? new GeneratorCrowd(url, room) : new ViewerCrowd('whep', url, room); } });
if (viewers) await t.crowd.grow(viewers);
await new Promise((r) => setTimeout(r, 6000));
const ticks = () => {
  const m = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${t.pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${t.pid}/task/${tid}/stat`, 'utf8');
      const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      m.set(`${tid} ${name}`, Number(f[11]) + Number(f[12]));
    } catch {}
  }
  return m;
};
const p0 = await t.publisherPackets();
const a = ticks();
console.log('PID', t.pid);
await new Promise((r) => setTimeout(r, seconds * 1000));
const b = ticks();
const p1 = await t.publisherPackets();
let total = 0;
const m = await (await fetch(`${URL}/metrics`)).text();
for (const l of m.split('\n')) if (/^lancast_relay_(packets_(retrans|forwarded|received|read|gated)|resends)/.test(l)) console.log(l);
for (const [k, v] of b) { const d = v - (a.get(k) ?? 0); total += d; if (d) console.log(k, ((d / seconds)).toFixed(2), '%'); }
console.log('total', (total / seconds).toFixed(2), '% ; publisher pkt/s', ((p1 - p0) / seconds).toFixed(0));
if (process.env.DUMP) (await import('node:fs')).writeFileSync(process.env.DUMP, (t as any).output?.() ?? '');
await t.stop();
process.exit(0);
