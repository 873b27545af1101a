/**
 * Keyframe requests and repairs through the hop between nodes. libwebrtc (@roamhq/wrtc) publishes on the
 * origin and, like a browser, encodes a keyframe only when asked; a viewer that joins an edge long
 * after the edge's upstream began (past the relay's keyframe replay) can only get a picture if
 * the edge's keyframe request crosses to the origin and on to the publisher. A viewer of an edge
 * behind a lossy path has its losses repaired by the edge.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { waitFor } from '../helpers/browser.js';
import { startNode, startRedis, type RedisServer } from '../helpers/redis.js';
import { roomInfo, type Lancast } from '../helpers/server.js';
import { lossyPath, type LossyPath } from '../helpers/lossy-udp.js';
import { whepPlay, whipPublish, type HttpSession } from '../helpers/wrtc.js';

let redis: RedisServer;
const nodes: Lancast[] = [];
const sessions: HttpSession[] = [];
const paths: LossyPath[] = [];

before(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) nodes.push(await startNode(redis, { args: ['--log-level', 'warn', '--pause-after', '30'] }));
});

after(async () => {
  await Promise.all(sessions.map((s) => s.stop().catch(() => undefined)));
  for (const p of paths) p.close();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

/** The publisher's video sender: keyframes encoded and keyframe requests (PLI) received so far. */
async function sent(pub: HttpSession): Promise<{ keyFrames: number; pli: number }> {
  const out = { keyFrames: 0, pli: 0 };
  (await pub.pc.getStats()).forEach((s: { type: string; kind?: string; keyFramesEncoded?: number; pliCount?: number }) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      out.keyFrames += s.keyFramesEncoded ?? 0;
      out.pli += s.pliCount ?? 0;
    }
  });
  return out;
}

test("a viewer joining an edge late gets a picture within seconds: the edge's keyframe request reaches the origin's publisher", async (t) => {
  const [origin, edge] = nodes as [Lancast, Lancast];
  const pub = await whipPublish(origin.url, 'late', 'test-key');
  sessions.push(pub);
  assert.equal(pub.status, 201, pub.body);
  await waitFor(() => roomInfo(edge.url, 'late'), (r) => r?.live === true, 10_000, 'the room live on the edge');

  const early = await whepPlay(edge.url, 'late');
  sessions.push(early);
  assert.equal(early.status, 201, early.body);
  await waitFor(async () => early.frames(), (f) => f.count >= 30, 30_000, 'the first viewer on the edge decoding');

  // Quiet: nobody asks for a keyframe for a while, and the publisher sends none by itself, so the
  // late viewer's picture can only come from a keyframe it asked for.
  const quietFrom = await waitFor(() => sent(pub), (s) => s.keyFrames > 0, 5_000, 'the publisher encoding keyframes');
  await sleep(4_000);
  const quietTo = await sent(pub);
  assert.equal(quietTo.keyFrames, quietFrom.keyFrames, 'the publisher sent keyframes nobody asked for: this test would prove nothing');

  const late = await whepPlay(edge.url, 'late');
  sessions.push(late);
  assert.equal(late.status, 201, late.body);
  const joined = Date.now();
  const frames = await waitFor(async () => late.frames(), (f) => f.count >= 10, 5_000, 'the late viewer on the edge decoding');
  const tookMs = Date.now() - joined;
  assert.equal(frames.width, 640, `a 640x480 picture, not ${frames.width}x${frames.height}`);
  const asked = await sent(pub);
  assert.ok(asked.pli > quietTo.pli, `the publisher received a keyframe request (PLI ${quietTo.pli} -> ${asked.pli})`);
  assert.ok(asked.keyFrames > quietTo.keyFrames, `the publisher encoded a keyframe for the late viewer (${quietTo.keyFrames} -> ${asked.keyFrames})`);
  assert.ok(tookMs < 5_000, `a picture after ${tookMs} ms`);
  t.diagnostic(`late viewer: 10 frames after ${tookMs} ms; publisher PLI ${quietTo.pli} -> ${asked.pli}, keyframes ${quietTo.keyFrames} -> ${asked.keyFrames}`);
  // The first viewer was not disturbed.
  const had = early.frames().count;
  await waitFor(async () => early.frames(), (f) => f.count >= had + 20, 5_000, 'the first viewer still decoding');
});

/** A player's inbound video: NACKs it sent and keyframes it asked for. */
async function received(player: HttpSession): Promise<{ nacks: number; plis: number }> {
  const out = { nacks: 0, plis: 0 };
  (await player.pc.getStats()).forEach((s: { type: string; kind?: string; nackCount?: number; pliCount?: number }) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.nacks += s.nackCount ?? 0;
      out.plis += s.pliCount ?? 0;
    }
  });
  return out;
}

test("a viewer of an edge behind a lossy path (every 20th video packet dropped) has its losses repaired by the edge", async (t) => {
  const [origin, edge] = nodes as [Lancast, Lancast];
  const pub = await whipPublish(origin.url, 'lossy', 'test-key');
  sessions.push(pub);
  assert.equal(pub.status, 201, pub.body);
  await waitFor(() => roomInfo(edge.url, 'lossy'), (r) => r?.live === true, 10_000, 'the room live on the edge');
  const path = await lossyPath(20);
  paths.push(path);
  const player = await whepPlay(edge.url, 'lossy', undefined, { rewriteAnswer: (sdp) => path.candidateIn(sdp), rewriteOffer: (sdp) => path.candidateOut(sdp) });
  sessions.push(player);
  assert.equal(player.status, 201, player.body);
  await waitFor(async () => player.frames(), (f) => f.count >= 30, 30_000, 'the viewer behind the lossy path decoding');
  const [frames0, stats0, dropped0, resent0] = [player.frames().count, await received(player), path.dropped(), path.resent()];
  await sleep(5_000);
  const [frames1, stats1, dropped1, resent1] = [player.frames().count, await received(player), path.dropped(), path.resent()];
  const [dropped, resent, nacks, plis] = [dropped1 - dropped0, resent1 - resent0, stats1.nacks - stats0.nacks, stats1.plis - stats0.plis];
  t.diagnostic(`5 s: ${frames1 - frames0} frames decoded, ${dropped} video packets dropped, ${nacks} NACKs, ${resent} retransmissions arrived, ${plis} keyframe requests`);
  assert.ok(dropped >= 10, `the path dropped ${dropped} packets`);
  assert.ok(nacks > 0, 'the viewer asked for the missing packets');
  assert.ok(resent >= dropped * 0.8, `${resent} retransmissions for ${dropped} dropped packets`);
  // A packet left missing would leave its frame undecodable and the viewer asking for a keyframe.
  assert.ok(plis <= 1, `${plis} keyframe requests: losses were not repaired`);
  assert.ok(frames1 - frames0 >= 100, `${frames1 - frames0} frames in 5 s: the picture kept playing`);
});
