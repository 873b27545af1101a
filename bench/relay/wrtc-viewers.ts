/**
 * libwebrtc viewers in their own process, driven over stdin/stdout one JSON line each way, so a
 * benchmark's viewers neither starve nor crash the process that measures (libwebrtc's threads are
 * per process). They watch lancast over WHEP (`<base>/whep/<room>`) or a Janus streaming mountpoint
 * through Janus's HTTP API (`<base>` its /janus URL, `<room>` the mountpoint's id): the same
 * peer connection and packet count either way. Commands: `{"add": N}` opens N more viewers;
 * `{"count": true}` answers each viewer's RTP packets received so far; `{"stop": true}` closes
 * them and exits.
 *
 *   node --import tsx bench/relay/wrtc-viewers.ts whep|janus <base-url> <room>
 */
import { createInterface } from 'node:readline';
import { whepPlay } from '../../test/helpers/wrtc.js';
import { janusWatch, type BenchViewer } from './janus-viewer.js';

const [server, base, room] = process.argv.slice(2);
const players: BenchViewer[] = [];
const reply = (m: unknown) => process.stdout.write(`${JSON.stringify(m)}\n`);

async function open(): Promise<BenchViewer> {
  if (server === 'janus') return janusWatch(base, Number(room));
  const p = await whepPlay(base, room, undefined, { frames: false });
  if (p.status !== 201) throw new Error(`WHEP play failed: ${p.status} ${p.body}`);
  return { packetsReceived: () => p.packetsReceived(), stop: async () => void (await p.stop()) };
}

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { add?: number; count?: boolean; stop?: boolean };
  try {
    if (cmd.add) {
      for (let i = 0; i < cmd.add; i++) players.push(await open());
      reply({ ok: true, viewers: players.length });
    } else if (cmd.count) {
      reply({ ok: true, counts: await Promise.all(players.map((p) => p.packetsReceived())) });
    } else if (cmd.stop) {
      await Promise.all(players.map((p) => p.stop().catch(() => undefined)));
      reply({ ok: true });
      process.exit(0);
    }
  } catch (err) {
    reply({ ok: false, error: (err as Error).message });
  }
}
process.exit(0);
