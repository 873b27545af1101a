/**
 * What recording costs, side by side in one run on one server and one publisher (libwebrtc in
 * Node over WHIP, 640x480 VP8 with half the picture fresh noise, so the encoder cannot squeeze
 * it): the server's CPU (the whole process, 100 % = one core) over a steady window with no
 * recording, with one recording, and with five WHEP viewers instead (the yardstick: a
 * recording should cost no more than five viewers); bytes written per minute; how long stopping
 * takes (the WebM's rewrite with duration and cues).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingApi } from '../test/helpers/recording.js';
import { metricValue, startLancast } from '../test/helpers/server.js';
import { whepPlay, whipPublish, type WhepPlayer } from '../test/helpers/wrtc.js';
import { cpuSeconds, sleep } from './lib.js';

export interface RecordingRow {
  case: string;
  serverCpuPercent: number;
  relayInKbps: number;
  writtenMBPerMin: number | '-';
  stopMs: number | '-';
  windowS: number;
}

export async function recordingBench(windowS = 20): Promise<RecordingRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'lancast-bench-rec-'));
  const server = await startLancast({ args: ['--log-level', 'warn', '--pause-after', '0', '--recordings-dir', dir] });
  const api = recordingApi(server.url, server.publishKey);
  const pub = await whipPublish(server.url, 'bench', server.publishKey, { noise: true });
  const players: WhepPlayer[] = [];
  const rows: RecordingRow[] = [];
  const measure = async (name: string, extra: () => Promise<Partial<RecordingRow>> = async () => ({})) => {
    const pid = server.proc.pid!;
    const in0 = (await metricValue(server.url, 'lancast_relay_payload_bytes_received_total')) ?? 0;
    const [c0, t0] = [cpuSeconds(pid), performance.now()];
    await sleep(windowS * 1000);
    const [c1, t1] = [cpuSeconds(pid), performance.now()];
    const in1 = (await metricValue(server.url, 'lancast_relay_payload_bytes_received_total')) ?? 0;
    const seconds = (t1 - t0) / 1000;
    const row: RecordingRow = {
      case: name,
      serverCpuPercent: Math.round(((c1 - c0) / seconds) * 1000) / 10,
      relayInKbps: Math.round(((in1 - in0) * 8) / seconds / 1000),
      writtenMBPerMin: '-',
      stopMs: '-',
      windowS: Math.round(seconds),
      ...(await extra()),
    };
    rows.push(row);
    process.stderr.write(`  recording: ${JSON.stringify(row)}\n`);
  };
  try {
    if (pub.status !== 201) throw new Error(`WHIP publish failed: ${pub.status}`);
    await sleep(10_000); // the encoder up to speed, startup's garbage collected
    await measure('relayed room, no viewers, not recorded');
    await api.start('bench');
    await sleep(3_000);
    await measure('relayed room, no viewers, recorded (VP8 + Opus to WebM)', async () => {
      const t0 = performance.now();
      const stopped = await api.stop('bench');
      const stopMs = Math.round(performance.now() - t0);
      const file = join(dir, stopped.body!.parts[0]);
      const minutes = stopped.body!.seconds / 60;
      return { writtenMBPerMin: Math.round((statSync(file).size / 1e6 / minutes) * 10) / 10, stopMs };
    });
    for (let i = 0; i < 5; i++) players.push(await whepPlay(server.url, 'bench'));
    await sleep(5_000);
    await measure('relayed room, 5 WHEP viewers, not recorded');
  } finally {
    for (const p of players) await p.stop().catch(() => undefined);
    await pub.stop().catch(() => undefined);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
