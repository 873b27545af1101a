/**
 * What a room nobody watches costs, side by side in one run: the server's CPU (the whole process,
 * 100 % = one core) and the broadcaster's (its whole Chromium) over a steady window, for an empty
 * server, a relayed room whose broadcast page keeps sending (`--pause-after 0`), and the same room
 * once the relay has paused it (`--pause-after 1`, the default is 5 s).
 */
import { metricValue, startLancast } from '../test/helpers/server.js';
import { roomPaused } from './compare.js';
import { waitForState } from '../test/helpers/browser.js';
import { cpuSeconds, measuredChromium, sleep, treeCpuSeconds } from './lib.js';

export interface IdleRow {
  case: string;
  serverCpuPercent: number;
  broadcasterCpuPercent: number | '-';
  /** Media bit rate the relay received from the broadcaster over the window. */
  relayInKbps: number;
  windowS: number;
}

export async function idle(windowS = 20): Promise<IdleRow[]> {
  const rows: IdleRow[] = [];
  const cases = [
    { name: 'empty server', pauseAfter: 0, broadcaster: false },
    { name: 'relayed room, no viewers, broadcaster sending (--pause-after 0)', pauseAfter: 0, broadcaster: true },
    { name: 'relayed room, no viewers, paused (--pause-after 1)', pauseAfter: 1, broadcaster: true },
  ];
  for (const c of cases) {
    const server = await startLancast({ args: ['--log-level', 'warn', '--mode', 'relay', '--pause-after', String(c.pauseAfter)] });
    const pub = c.broadcaster ? await measuredChromium('idle-broadcaster') : undefined;
    try {
      if (pub) {
        const page = await pub.browser.newPage();
        await page.goto(`${server.url}/broadcast/idle?key=test-key&autostart=1&mode=relay`);
        await waitForState(page, 'live');
        const deadline = Date.now() + 20_000;
        if (c.pauseAfter > 0) {
          while (!(await roomPaused(server.url, 'idle'))) {
            if (Date.now() > deadline) throw new Error('the room did not pause');
            await sleep(200);
          }
        }
      }
      await sleep(10_000); // startup's garbage collected, packets in flight in
      const pid = server.proc.pid!;
      const [s0, b0, in0, t0] = [cpuSeconds(pid), pub ? treeCpuSeconds(pub.pid) : 0, ((await metricValue(server.url, 'lancast_relay_payload_bytes_received_total')) ?? 0), performance.now()];
      await sleep(windowS * 1000);
      const [s1, b1, in1, t1] = [cpuSeconds(pid), pub ? treeCpuSeconds(pub.pid) : 0, ((await metricValue(server.url, 'lancast_relay_payload_bytes_received_total')) ?? 0), performance.now()];
      const seconds = (t1 - t0) / 1000;
      const row: IdleRow = {
        case: c.name,
        serverCpuPercent: Math.round(((s1 - s0) / seconds) * 1000) / 10,
        broadcasterCpuPercent: pub ? Math.round(((b1 - b0) / seconds) * 100) : '-',
        relayInKbps: Math.round(((in1 - in0) * 8) / seconds / 1000),
        windowS: Math.round(seconds),
      };
      rows.push(row);
      process.stderr.write(`  idle: ${JSON.stringify(row)}\n`);
    } finally {
      await pub?.browser.close();
      await server.stop();
    }
  }
  return rows;
}
