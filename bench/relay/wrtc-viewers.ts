/**
 * libwebrtc WHEP viewers in their own process, driven over stdin/stdout one JSON line each way,
 * so a benchmark's viewers neither starve nor crash the process that measures (libwebrtc's threads
 * are per process). Commands: `{"add": N}` opens N more viewers of `<base>/whep/<room>`; `{"count":
 * true}` answers each viewer's RTP packets received so far; `{"stop": true}` closes them and exits.
 *
 *   node --import tsx bench/relay/wrtc-viewers.ts <base-url> <room>
 */
import { createInterface } from 'node:readline';
import { whepPlay, type WhepPlayer } from '../../test/helpers/wrtc.js';

const [base, room] = process.argv.slice(2);
const players: WhepPlayer[] = [];
const reply = (m: unknown) => process.stdout.write(`${JSON.stringify(m)}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { add?: number; count?: boolean; stop?: boolean };
  try {
    if (cmd.add) {
      for (let i = 0; i < cmd.add; i++) {
        const p = await whepPlay(base, room, undefined, { frames: false });
        if (p.status !== 201) throw new Error(`WHEP play failed: ${p.status} ${p.body}`);
        players.push(p);
      }
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
