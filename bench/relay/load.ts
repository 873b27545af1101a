/**
 * Relay load: one WHIP publisher (libwebrtc, 720p30, ~2.5 Mbit/s) and growing numbers of headless
 * WHEP viewers (werift, no decoding). For each step, over a steady window: the server process's
 * CPU time per forwarded RTP packet, the viewers' loss, and what the generators cost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from '../../test/helpers/proc.js';
import { startLancast, type Lancast } from '../../test/helpers/server.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

async function metric(server: Lancast, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

interface Report {
  viewers: number;
  failed: number;
  packets: number;
  lost: number;
}

function child(script: string, args: string[]): { proc: ChildProcess; last: () => Report | undefined; first: Promise<string> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', here(script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last: Report | undefined;
  let resolveFirst!: (line: string) => void;
  const first = new Promise<string>((r) => (resolveFirst = r));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
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
  viewers: number;
  connected: number;
  serverCpuPercent: number;
  generatorCpuPercent: number;
  publisherCpuPercent: number;
  packetsForwardedPerSecond: number;
  inKbps: number;
  usPerForwardedPacket: number;
  receivedPerSecond: number;
  lossPercent: number;
}

export async function relayLoad(steps: number[], windowMs = 8_000): Promise<{ steps: LoadStep[]; maxViewersUnder1PctLoss: number }> {
  const server = await startLancast({ args: ['--log-level', 'warn'] });
  const publisher = child('./publisher.ts', [server.url, 'load', 'test-key']);
  const results: LoadStep[] = [];
  try {
    const status = JSON.parse(await publisher.first) as { status: number };
    if (status.status !== 201) throw new Error(`publisher refused: ${status.status}`);
    await sleep(20_000); // let the encoder climb to its ceiling
    for (const n of steps) {
      const subs = child('./subscribers.ts', [server.url, 'load', String(n)]);
      try {
        // Connect (DTLS handshakes queue up on a busy machine), keyframe, settle.
        const deadline = Date.now() + 10_000 + n * 100;
        while ((subs.last()?.viewers ?? 0) + (subs.last()?.failed ?? 0) < n && Date.now() < deadline) await sleep(250);
        await sleep(3_000);
        const t0 = Date.now();
        const [cpu0, gen0, pub0, fwd0, in0] = [
          cpuSeconds(server.proc.pid!),
          cpuSeconds(subs.proc.pid!),
          cpuSeconds(publisher.proc.pid!),
          await metric(server, 'lancast_relay_packets_forwarded_total'),
          await metric(server, 'lancast_relay_payload_bytes_received_total'),
        ];
        const r0 = subs.last();
        await sleep(windowMs);
        const seconds = (Date.now() - t0) / 1000;
        const [cpu1, gen1, pub1, fwd1, in1] = [
          cpuSeconds(server.proc.pid!),
          cpuSeconds(subs.proc.pid!),
          cpuSeconds(publisher.proc.pid!),
          await metric(server, 'lancast_relay_packets_forwarded_total'),
          await metric(server, 'lancast_relay_payload_bytes_received_total'),
        ];
        const r1 = subs.last();
        const received = (r1?.packets ?? 0) - (r0?.packets ?? 0);
        const lost = (r1?.lost ?? 0) - (r0?.lost ?? 0);
        const forwarded = fwd1 - fwd0;
        const step: LoadStep = {
          viewers: n,
          connected: r1?.viewers ?? 0,
          serverCpuPercent: Math.round(((cpu1 - cpu0) / seconds) * 100),
          generatorCpuPercent: Math.round(((gen1 - gen0) / seconds) * 100),
          publisherCpuPercent: Math.round(((pub1 - pub0) / seconds) * 100),
          packetsForwardedPerSecond: Math.round(forwarded / seconds),
          inKbps: Math.round(((in1 - in0) * 8) / seconds / 1000),
          usPerForwardedPacket: forwarded > 0 ? Math.round(((cpu1 - cpu0) * 1e6) / forwarded) : 0,
          receivedPerSecond: Math.round(received / seconds),
          lossPercent: received + lost > 0 ? Math.round((lost / (received + lost)) * 1000) / 10 : 100,
        };
        results.push(step);
        process.stderr.write(`  relay load: ${JSON.stringify(step)}\n`);
        if (step.lossPercent >= 1 && step.viewers >= 10) break;
      } finally {
        subs.proc.kill('SIGTERM');
        await sleep(1_500);
      }
    }
  } finally {
    publisher.proc.kill('SIGTERM');
    await sleep(500);
    await server.stop();
  }
  const ok = results.filter((s) => s.lossPercent < 1 && s.connected === s.viewers);
  return { steps: results, maxViewersUnder1PctLoss: ok.length ? Math.max(...ok.map((s) => s.viewers)) : 0 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const steps = (process.argv[2] ?? '5,10,20,40').split(',').map(Number);
  console.log(JSON.stringify(await relayLoad(steps), null, 2));
}
