/**
 * The side-by-side bench's Janus half against a real Janus (bench/janus.ts): Janus 1.1.2's
 * streaming plugin fed by the GStreamer pipeline over RTP and watched by libwebrtc viewers through
 * Janus's HTTP API, on 127.0.0.1. (The same pipeline's WHIP leg to lancast is the bench's own
 * check: a feed that cannot publish fails the suite.) Janus and GStreamer come from Debian
 * (.ci/run installs them); without them this test fails, saying what is missing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildShim, janusRoom, missing } from '../../bench/janus.js';
import { sleep } from '../../bench/lib.js';
import type { RoomTarget } from '../../bench/rooms.js';

const dir = mkdtempSync(join(tmpdir(), 'lancast-janus-test-'));
let shim: NodeJS.ProcessEnv;

before(() => {
  assert.deepEqual(missing(), [], 'the side-by-side bench needs these (.ci/run installs them)');
  shim = buildShim(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every viewer's packet count rises over a second (within `timeoutMs`). */
async function allPlay(target: RoomTarget, timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const first = (await target.crowd.counts()).counts;
    await sleep(1_000);
    const second = (await target.crowd.counts()).counts;
    if (second.every((n, i) => n > first[i] && first[i] > 0) || Date.now() > deadline) return second.map((n, i) => n - first[i]);
  }
}

/** The local addresses of a process's UDP sockets (ss -uanp). */
function udpAddresses(pid: number): string[] {
  const lines = execFileSync('ss', ['-uanpH'], { encoding: 'utf8' }).split('\n');
  return lines.filter((l) => l.includes(`pid=${pid},`)).map((l) => l.trim().split(/\s+/)[3]);
}

test('Janus plays the GStreamer feed to libwebrtc viewers through its HTTP API, on 127.0.0.1 only, and stops whole', async () => {
  const janus = await janusRoom('Janus', shim);
  try {
    await janus.crowd.grow(2);
    const perSecond = await allPlay(janus);
    // ~110 packets a second of VP8 + Opus to each viewer.
    for (const n of perSecond) assert.ok(n > 50, `each viewer receives the feed: ${perSecond.join(', ')} packets in a second`);
    const addresses = udpAddresses(janus.pid);
    assert.ok(addresses.length >= 4, `Janus holds its RTP ports and one per viewer: ${addresses.join(' ')}`);
    assert.deepEqual(addresses.filter((a) => !a.startsWith('127.0.0.1:')), [], 'every Janus socket is on 127.0.0.1');
  } finally {
    await janus.stop();
  }
  assert.throws(() => process.kill(janus.pid, 0), { code: 'ESRCH' }, 'Janus is gone after stop()');
});
