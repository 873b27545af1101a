/**
 * Viewers coming and going all day must not cost the server a descriptor each: every relay leg's
 * UDP socket closes when its viewer leaves, whether the viewer is a watch page or a WHEP player.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, waitFor, waitForState } from '../helpers/browser.js';
import { udpSocketCount } from '../helpers/proc.js';
import { roomInfo, startLancast, type Lancast } from '../helpers/server.js';
import { whepPlay } from '../helpers/wrtc.js';

let server: Lancast;
let chromium: Browser;

before(async () => {
  [server, chromium] = await Promise.all([startLancast({ args: ['--mode', 'relay'] }), launchChromium()]);
});

after(async () => {
  await chromium?.close();
  await server?.stop();
});

const sockets = () => Promise.resolve(udpSocketCount(server.proc.pid!));

test('watch pages and WHEP players that leave take their UDP sockets with them', async () => {
  const broadcaster = await chromium.newPage();
  await broadcaster.goto(`${server.url}/broadcast/churn?key=test-key&autostart=1&mode=relay`);
  await waitForState(broadcaster, 'live', 20_000);
  await waitFor(() => roomInfo(server.url, 'churn'), (r) => (r?.bitrate?.in ?? 0) > 0, 15_000, 'the relay receiving the broadcast');
  const baseline = udpSocketCount(server.proc.pid!);
  assert.ok(baseline >= 1, 'the publisher leg has its socket');

  for (let round = 1; round <= 2; round++) {
    const pages = await Promise.all([1, 2, 3, 4, 5].map(() => chromium.newPage()));
    await Promise.all(pages.map((p) => p.goto(`${server.url}/watch/churn`)));
    for (const p of pages) await waitForState(p, 'live', 20_000);
    const players = await Promise.all([1, 2].map(() => whepPlay(server.url, 'churn')));
    // Players that played, as real ones do before they leave (a leg that never connected waits
    // out its 30 s connect limit instead of the 8 s silence one).
    for (const p of players) await waitFor(() => Promise.resolve(p.frames().count), (n) => n > 0, 20_000, 'a WHEP player decoding frames');
    const busy = udpSocketCount(server.proc.pid!);
    assert.ok(busy > baseline, `round ${round}: 7 viewers add sockets (${baseline} -> ${busy})`);

    await Promise.all(pages.map((p) => p.close()));
    await players[0].stop();
    players[1].pc.close(); // vanishes without a DELETE
    await waitFor(() => roomInfo(server.url, 'churn'), (r) => r?.viewers === 0, 20_000, 'the room to count no viewers');
    // Legs close at once on a hangup, or after the relay's silence timeout for a vanished player.
    const left = await waitFor(sockets, (n) => n <= baseline, 30_000, `UDP sockets back to ${baseline} after round ${round}`).catch(() => sockets());
    assert.equal(left, baseline, `round ${round}: ${left - baseline} UDP sockets left open after every viewer left`);
    await players[1].stop(); // its video sink (the session is gone: the DELETE is a 404)
  }
  await broadcaster.close();
});
