/**
 * A relayed room's streams routed natively (ingress-gate.ts `route`, native/fanout.c `route` and
 * `take`): the native module sends each publisher packet to this thread's viewers as it reads it,
 * and JavaScript takes the packets afterwards in batches for history, statistics and reports.
 * What a user would see: players decode, a player who joins starts at once, a player on a lossy
 * path gets its lost packets again, viewers on a worker thread get every packet, and with
 * LANCAST_NATIVE_ROUTE=0 the room plays the same. Real server, libwebrtc (@roamhq/wrtc) publisher
 * and players.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../helpers/browser.js';
import { lossyPath } from '../helpers/lossy-udp.js';
import { metricFrom, roomInfo, startLancast, type Lancast } from '../helpers/server.js';
import { whepPlay, whipPublish, type HttpSession, type WhepPlayer } from '../helpers/wrtc.js';

let server: Lancast;
const open: HttpSession[] = [];

before(async () => {
  server = await startLancast();
});

after(async () => {
  for (const s of open) await s.stop().catch(() => undefined);
  await server?.stop();
});

interface Counts {
  received: number;
  forwarded: number;
  routed: number;
  direct: number;
  takes: number;
  retransmitted: number;
  wakeups: number;
  calls: number;
}
async function counts(on: Lancast = server): Promise<Counts> {
  const text = await (await fetch(`${on.url}/metrics`)).text();
  const get = (name: string) => metricFrom(text, name) ?? NaN;
  return {
    received: get('lancast_relay_packets_received_total'),
    forwarded: get('lancast_relay_packets_forwarded_total'),
    routed: get('lancast_relay_packets_routed_natively_total'),
    direct: get('lancast_relay_packets_received_directly_total'),
    takes: get('lancast_relay_native_takes_total'),
    retransmitted: get('lancast_relay_packets_retransmitted_total'),
    wakeups: get('lancast_relay_thread_wakeups_total'),
    calls: get('lancast_relay_thread_calls_total'),
  };
}

function delta(a: Counts, b: Counts): Counts {
  return {
    received: b.received - a.received,
    forwarded: b.forwarded - a.forwarded,
    routed: b.routed - a.routed,
    direct: b.direct - a.direct,
    takes: b.takes - a.takes,
    retransmitted: b.retransmitted - a.retransmitted,
    wakeups: b.wakeups - a.wakeups,
    calls: b.calls - a.calls,
  };
}

async function publish(room: string, on: Lancast = server): Promise<HttpSession> {
  const pub = await whipPublish(on.url, room, on.publishKey);
  open.push(pub);
  assert.equal(pub.status, 201, pub.body);
  await waitFor(() => roomInfo(on.url, room), (r) => r?.live === true && (r.bitrate?.in ?? 0) > 0, 15_000, `${room} live at the relay`);
  return pub;
}

async function watch(room: string, on: Lancast = server, options: Parameters<typeof whepPlay>[3] = {}): Promise<WhepPlayer> {
  const player = await whepPlay(on.url, room, undefined, options);
  open.push(player);
  assert.equal(player.status, 201, player.body);
  await waitFor(async () => player.frames().count, (n) => n > 0, 10_000, `a decoded frame in ${room}`);
  return player;
}

/** Each player goes on decoding for `ms`; returns the frames each decoded. */
async function decoding(players: WhepPlayer[], ms = 2_000): Promise<number[]> {
  const before = players.map((p) => p.frames().count);
  await sleep(ms);
  const frames = players.map((p, i) => p.frames().count - before[i]);
  for (const n of frames) assert.ok(n >= (ms / 1000) * 10, `frames decoded in ${ms} ms: ${frames.join(', ')}`);
  return frames;
}

describe('native routing', () => {
  test('a watched room: every packet sent natively as it arrives, JavaScript taking them in batches; players decode, and one who joins starts at once', async () => {
    const pub = await publish('route');
    const first = await watch('route');
    const second = await watch('route');
    const a = await counts();
    await decoding([first, second], 3_000);
    const d = delta(a, await counts());
    assert.ok(d.received >= 150, `received ${d.received}`);
    assert.ok(d.routed >= d.received * 0.95, `routed natively ${d.routed} of ${d.received}`);
    // JavaScript handed them straight to their receivers, past werift's router.
    assert.ok(d.direct >= d.routed * 0.95, `${d.direct} of ${d.routed} routed packets handed straight to their receiver`);
    // Both players were sent every packet: the forwarder still counts what the native module sent.
    assert.ok(d.forwarded >= d.received * 1.8, `forwarded ${d.forwarded} for ${d.received} received (two players)`);
    // JavaScript took them in batches, not once per packet or per frame (~30 frames a second).
    assert.ok(d.takes > 0 && d.takes <= d.received / 4, `JavaScript took ${d.received} packets in ${d.takes} batches`);
    // The native relay thread read them as they came (a frame's packets may come together) and woke Node's loop in batches.
    assert.ok(d.wakeups >= d.received / 10, `the relay thread woke ${d.wakeups} times for ${d.received} packets`);
    assert.ok(d.calls > 0 && d.calls <= d.wakeups / 3, `Node's loop woken ${d.calls} times by the relay thread's ${d.wakeups}`);

    // A player joining a routed room starts from the keyframe in history, which is up to date.
    const joined = await watch('route');
    await decoding([first, second, joined]);
    for (const p of [first, second, joined]) await p.stop();
    await pub.stop();
  });

  test('a player on a lossy path gets its lost packets again: its NACKs read a history that includes what was just sent natively', async () => {
    const pub = await publish('route-loss');
    const path = await lossyPath(25);
    try {
      const clean = await watch('route-loss');
      const lossy = await watch('route-loss', server, { rewriteAnswer: (sdp) => path.candidateIn(sdp), rewriteOffer: (sdp) => path.candidateOut(sdp) });
      const a = await counts();
      await decoding([clean, lossy], 4_000);
      const d = delta(a, await counts());
      assert.ok(d.routed >= d.received * 0.9, `routed natively ${d.routed} of ${d.received}`);
      assert.ok(path.dropped() >= 8, `dropped on the path: ${path.dropped()}`);
      // Every drop but those in the last round trip is resent (on RTX) and passes.
      assert.ok(path.resent() >= path.dropped() * 0.8, `resent ${path.resent()} of ${path.dropped()} dropped`);
      assert.ok(d.retransmitted > 0, `retransmitted ${d.retransmitted}`);
      await clean.stop();
      await lossy.stop();
    } finally {
      path.close();
      await pub.stop();
    }
  });

  test('a viewer on a worker thread gets every packet as it comes: nothing is routed while a worker serves the room, and routing resumes when it leaves', async () => {
    const workers = await startLancast({ args: ['--relay-workers', '1'], env: { LANCAST_RELAY_MAIN_LEGS: '1' } });
    try {
      const pub = await publish('route-workers', workers);
      const onMain = await watch('route-workers', workers);
      await waitFor(() => counts(workers), (c) => c.routed > 0, 5_000, 'the main thread routing its one viewer');
      const onWorker = await watch('route-workers', workers);
      const a = await counts(workers);
      await decoding([onMain, onWorker]);
      const d = delta(a, await counts(workers));
      assert.equal(d.routed, 0, 'nothing routed while a worker has a viewer of the room');
      assert.ok(d.received >= 100, `received ${d.received}`);
      await onWorker.stop();
      // The publisher looks again every second.
      await waitFor(() => counts(workers), (c) => c.routed > a.routed + d.routed + 50, 6_000, 'routing again once the worker has no viewer of the room');
      await decoding([onMain]);
      await onMain.stop();
      await pub.stop();
    } finally {
      await workers.stop();
    }
  });

  test('LANCAST_RELAY_THREAD=0: streams are routed from Node\'s own event loop, and the room plays the same', async () => {
    const loop = await startLancast({ env: { LANCAST_RELAY_THREAD: '0' } });
    try {
      const pub = await publish('route-loop', loop);
      const player = await watch('route-loop', loop);
      const a = await counts(loop);
      await decoding([player]);
      const d = delta(a, await counts(loop));
      assert.ok(d.routed >= d.received * 0.95, `routed natively ${d.routed} of ${d.received}`);
      assert.equal(d.wakeups, 0, 'no relay thread');
      await player.stop();
      await pub.stop();
    } finally {
      await loop.stop();
    }
  });

  test('LANCAST_NATIVE_ROUTE=0: nothing is routed, JavaScript forwards every packet, and the room plays the same', async () => {
    const plain = await startLancast({ env: { LANCAST_NATIVE_ROUTE: '0' } });
    try {
      const pub = await publish('route-off', plain);
      const player = await watch('route-off', plain);
      const a = await counts(plain);
      await decoding([player]);
      const d = delta(a, await counts(plain));
      assert.equal(d.routed, 0, 'nothing routed');
      assert.equal(d.direct, 0, 'every packet through werift\'s router');
      assert.ok(d.forwarded >= d.received * 0.9, `forwarded ${d.forwarded} of ${d.received}`);
      await player.stop();
      await pub.stop();
    } finally {
      await plain.stop();
    }
  });
});
