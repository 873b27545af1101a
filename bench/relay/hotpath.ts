/**
 * The forwarding hot path alone, split into its parts: for one 1,157-byte video packet sent to
 * 100 viewers at a time, CPU per packet per viewer of (a) the header rewrite and the call into
 * the forwarder, (b) + SRTP, (c) + the kernel's UDP send over loopback, native and TypeScript,
 * for both SRTP profiles. CPU is this process's own (user + system), over many packets.
 * The destination is one bound socket nobody reads: once its queue is full the kernel drops there,
 * after the sender has paid for the whole send path.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  AEAD_AES_128_GCM,
  AES_CM_128_HMAC_SHA1_80,
  Egress,
  EgressGroup,
  NO_SEND_FOR_BENCHMARKS,
  NO_SRTP_FOR_BENCHMARKS,
  egressImplementation,
  type SrtpKeys,
} from '../../src/relay/egress.js';

export interface HotPathRow {
  path: string;
  profile: string;
  parts: string;
  usPerPacketPerViewer: number;
}

const VIEWERS = 100;
const PAYLOAD = 1157;

export async function hotPath(packets = 4_000): Promise<{ implementation: string; rows: HotPathRow[]; split: Record<string, number> }> {
  const sink = createSocket('udp4');
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  socket.setMaxListeners(0); // every egress watches the socket's 'close'
  const port = sink.address().port;
  const payload = randomBytes(PAYLOAD);
  const keysFor = (profile: number): SrtpKeys => ({ profile, key: randomBytes(16), salt: randomBytes(14), authKey: randomBytes(20) });

  const run = (profile: number, native: boolean, flags: number, count: number): number => {
    const group = new EgressGroup();
    const egresses: Egress[] = [];
    for (let i = 0; i < VIEWERS; i++) {
      const e = new Egress(keysFor(profile), { kind: 'udp', socket, address: '127.0.0.1', port }, { ssrc: i + 1, payloadType: 96, seqOffset: i, tsOffset: i }, native, flags);
      egresses.push(e);
      group.add(e);
    }
    // Warm up, then measure.
    for (let p = 0; p < 200; p++) group.send(payload, false, p, p * 3000);
    const before = process.cpuUsage();
    for (let p = 0; p < count; p++) group.send(payload, p % 9 === 8, (200 + p) & 0xffff, p * 3000);
    const used = process.cpuUsage(before);
    for (const e of egresses) e.close();
    return (used.user + used.system) / (count * VIEWERS);
  };

  const rows: HotPathRow[] = [];
  const add = (path: string, profile: string, parts: string, us: number) => rows.push({ path, profile, parts, usPerPacketPerViewer: Math.round(us * 100) / 100 });
  const native = egressImplementation.name === 'native';
  const split: Record<string, number> = {};
  if (native) {
    const header = run(NO_SRTP_FOR_BENCHMARKS, true, NO_SEND_FOR_BENCHMARKS, packets);
    const gcm = run(AEAD_AES_128_GCM, true, NO_SEND_FOR_BENCHMARKS, packets);
    const gcmSend = run(AEAD_AES_128_GCM, true, 0, packets);
    const cm = run(AES_CM_128_HMAC_SHA1_80, true, NO_SEND_FOR_BENCHMARKS, packets);
    const cmSend = run(AES_CM_128_HMAC_SHA1_80, true, 0, packets);
    add('native', '-', 'call + header rewrite + copy', header);
    add('native', 'AEAD_AES_128_GCM', 'call + header + SRTP', gcm);
    add('native', 'AEAD_AES_128_GCM', 'call + header + SRTP + send', gcmSend);
    add('native', 'AES_CM_128_HMAC_SHA1_80', 'call + header + SRTP', cm);
    add('native', 'AES_CM_128_HMAC_SHA1_80', 'call + header + SRTP + send', cmSend);
    split.headerUs = Math.round(header * 100) / 100;
    split.srtpGcmUs = Math.round((gcm - header) * 100) / 100;
    split.srtpAesCmHmacUs = Math.round((cm - header) * 100) / 100;
    split.sendUs = Math.round((gcmSend - gcm) * 100) / 100;
    split.totalGcmUs = Math.round(gcmSend * 100) / 100;
  }
  const tsCount = Math.max(200, Math.round(packets / 8));
  add('TypeScript fallback', 'AEAD_AES_128_GCM', 'header + SRTP + send', run(AEAD_AES_128_GCM, false, 0, tsCount));
  add('TypeScript fallback', 'AES_CM_128_HMAC_SHA1_80', 'header + SRTP + send', run(AES_CM_128_HMAC_SHA1_80, false, 0, tsCount));
  socket.close();
  sink.close();
  return { implementation: egressImplementation.name, rows, split };
}

/**
 * The same native path on 1 and on 2 threads at once (each thread its own 100 viewers and
 * socket, as relay workers have): forwarded packets per second of wall time, so the ratio is what
 * a second core adds. No load generator runs meanwhile; the kernel's loopback send is included.
 */
export async function hotPathThreads(seconds = 3): Promise<{ threads: number; sendsPerSecond: number; ratioToOneThread: number }[]> {
  const rows: { threads: number; sendsPerSecond: number; ratioToOneThread: number }[] = [];
  for (const threads of [1, 2]) {
    const started = performance.now();
    const counts = await Promise.all(
      Array.from({ length: threads }, () =>
        new Promise<{ sends: number }>((resolve, reject) => {
          // TypeScript in a worker: register tsx there first, then load this file.
          const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
          const w = new Worker(boot, { eval: true, workerData: { seconds } });
          w.once('message', resolve);
          w.once('error', reject);
        }),
      ),
    );
    const wall = (performance.now() - started) / 1000;
    const sends = counts.reduce((n, c) => n + c.sends, 0);
    void wall;
    const sendsPerSecond = Math.round(sends / seconds);
    rows.push({ threads, sendsPerSecond, ratioToOneThread: rows[0] ? Math.round((sendsPerSecond / rows[0].sendsPerSecond) * 100) / 100 : 1 });
  }
  return rows;
}

async function threadLoop(seconds: number): Promise<void> {
  const sink = createSocket('udp4');
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  socket.setMaxListeners(0);
  const group = new EgressGroup();
  for (let i = 0; i < VIEWERS; i++) {
    group.add(new Egress({ profile: AEAD_AES_128_GCM, key: randomBytes(16), salt: randomBytes(14), authKey: randomBytes(20) }, { kind: 'udp', socket, address: '127.0.0.1', port: sink.address().port }, { ssrc: i + 1, payloadType: 96, seqOffset: i, tsOffset: i }));
  }
  const payload = randomBytes(PAYLOAD);
  const end = performance.now() + seconds * 1000;
  let sends = 0;
  for (let p = 0; performance.now() < end; p++) sends += group.send(payload, false, p & 0xffff, p * 3000);
  parentPort!.postMessage({ sends });
  socket.close();
  sink.close();
}

if (!isMainThread && (workerData as { seconds?: number })?.seconds) {
  await threadLoop((workerData as { seconds: number }).seconds);
} else if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  console.log(JSON.stringify({ ...(await hotPath()), threads: await hotPathThreads() }, null, 2));
}
