/**
 * Where viewers' legs run: a small room's legs on the main thread, the legs past the main thread's
 * share on the worker threads, and viewers on either side see the same stream. The share is made
 * 1 leg here (LANCAST_RELAY_MAIN_LEGS) so two libwebrtc WHEP viewers land one on each side.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { waitFor } from '../helpers/browser.js';
import { startLancast, type Lancast } from '../helpers/server.js';
import { whepPlay, whipPublish, type HttpSession } from '../helpers/wrtc.js';

let server: Lancast | undefined;
const sessions: HttpSession[] = [];
after(async () => {
  for (const s of sessions.reverse()) await s.stop().catch(() => undefined);
  await server?.stop();
});

/** Each worker thread's legs, from /metrics. */
async function workerLegs(url: string): Promise<number[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(/^lancast_relay_worker_viewers\{worker="\d+"\} (\d+)$/gm)].map((m) => Number(m[1]));
}

test('the first viewer plays from the main thread, the next from a worker, both decode frames', async () => {
  server = await startLancast({ args: ['--relay-workers', '2', '--pause-after', '0'], env: { LANCAST_RELAY_MAIN_LEGS: '1' } });
  const pub = await whipPublish(server.url, 'placed', server.publishKey, { width: 320, height: 240 });
  sessions.push(pub);
  assert.equal(pub.status, 201);

  const first = await whepPlay(server.url, 'placed');
  sessions.push(first);
  assert.equal(first.status, 201);
  await waitFor(async () => first.frames(), (f) => f.count >= 10, 15_000, 'frames at the first viewer');
  assert.equal((await workerLegs(server.url)).reduce((a, b) => a + b, 0), 0, "the first viewer's leg is on the main thread");

  const second = await whepPlay(server.url, 'placed');
  sessions.push(second);
  assert.equal(second.status, 201);
  await waitFor(async () => second.frames(), (f) => f.count >= 10, 15_000, 'frames at the second viewer');
  const legs = await waitFor(() => workerLegs(server!.url), (l) => l.reduce((a, b) => a + b, 0) === 1, 5_000, 'one leg on a worker');
  assert.equal(legs.length, 2, 'both workers started');
  assert.equal(second.frames().width, 320);

  // The first viewer still plays beside the second.
  const before = first.frames().count;
  await waitFor(async () => first.frames(), (f) => f.count >= before + 10, 5_000, 'more frames at the first viewer');
});
