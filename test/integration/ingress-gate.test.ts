/**
 * A WHIP publisher's room with nobody watching: its media is dropped before werift (the ingress
 * gate) once the room has been unwatched for a moment, and still counts as received; the room
 * stays live. A WHEP viewer, a recording, and viewers coming and going get the picture back each
 * time. Real server, libwebrtc (@roamhq/wrtc) publisher and players.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../helpers/browser.js';
import { recordingApi } from '../helpers/recording.js';
import { decodeErrors, ffprobe } from '../helpers/rtp-capture.js';
import { metricFrom, roomInfo, startLancast, type Lancast, type RoomInfo } from '../helpers/server.js';
import { whepPlay, whipPublish, type HttpSession, type PublishOptions, type WhepPlayer } from '../helpers/wrtc.js';

/** The grace before a room's media is gated (GATE_AFTER_MS), plus room for a loaded machine. */
const GATED_WITHIN_MS = 2_000 + 4_000;

let server: Lancast;
const dir = mkdtempSync(join(tmpdir(), 'lancast-gate-'));
const open: HttpSession[] = [];

before(async () => {
  server = await startLancast({ args: ['--recordings-dir', dir] });
});

after(async () => {
  for (const s of open) await s.stop().catch(() => undefined);
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Counts {
  received: number;
  gated: number;
  /** Read and decrypted natively, then handed to werift's router (a watched room). */
  read: number;
}
async function counts(url = server.url): Promise<Counts> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return {
    received: metricFrom(text, 'lancast_relay_packets_received_total') ?? NaN,
    gated: metricFrom(text, 'lancast_relay_packets_gated_total') ?? NaN,
    read: metricFrom(text, 'lancast_relay_packets_read_natively_total') ?? NaN,
  };
}

async function publish(room: string, options: PublishOptions = {}, on: Lancast = server): Promise<HttpSession> {
  const pub = await whipPublish(on.url, room, on.publishKey, options);
  open.push(pub);
  assert.equal(pub.status, 201, pub.body);
  await waitFor(() => roomInfo(on.url, room), (r) => r?.live === true && (r.bitrate?.in ?? 0) > 0, 15_000, `${room} live at the relay`);
  return pub;
}

/** Waits until the gate drops packets: the count rises, and then rises again (the gate stays shut). */
async function gated(): Promise<Counts> {
  const rises = async (what: string, timeoutMs: number): Promise<Counts> => {
    let last = await counts();
    const [now] = await waitFor(
      async () => {
        const now = await counts();
        const rising = now.gated > last.gated;
        last = now;
        return [now, rising] as const;
      },
      ([, rising]) => rising,
      timeoutMs,
      what,
    );
    return now;
  };
  await rises('packets gated', GATED_WITHIN_MS + 2_000);
  return rises('packets still gated', 2_000);
}

/** A WHEP player of `room`, and how long from its POST to its first decoded frame. */
async function watch(room: string, on: Lancast = server): Promise<{ player: WhepPlayer; firstFrameMs: number }> {
  const t0 = performance.now();
  const player = await whepPlay(on.url, room);
  open.push(player);
  assert.equal(player.status, 201, player.body);
  await waitFor(async () => player.frames().count, (n) => n > 0, 10_000, `a decoded frame in ${room}`);
  return { player, firstFrameMs: Math.round(performance.now() - t0) };
}

/** The player goes on receiving and decoding for `ms`. */
async function keepsPlaying(player: WhepPlayer, ms = 1_500): Promise<void> {
  const [frames, packets] = [player.frames().count, await player.packetsReceived()];
  await sleep(ms);
  const [frames1, packets1] = [player.frames().count, await player.packetsReceived()];
  assert.ok(frames1 - frames >= (ms / 1000) * 10, `frames decoded in ${ms} ms: ${frames1 - frames}`);
  assert.ok(packets1 - packets >= (ms / 1000) * 50, `packets received in ${ms} ms: ${packets1 - packets}`);
}

describe('the ingress gate', () => {
  test('an unwatched WHIP room: media gated, still counted as received, the room still live', async () => {
    const pub = await publish('unwatched');
    const a = await gated();
    await sleep(2_000);
    const b = await counts();
    const gatedPerS = (b.gated - a.gated) / 2;
    const receivedPerS = (b.received - a.received) / 2;
    // The publisher sends ~50 audio and ~20-60 video packets a second: all of them gated, all received.
    assert.ok(gatedPerS >= 50, `gated ${gatedPerS}/s`);
    assert.ok(receivedPerS >= gatedPerS, `received ${receivedPerS}/s, gated ${gatedPerS}/s`);
    const room = await roomInfo(server.url, 'unwatched');
    assert.equal(room?.live, true);
    assert.ok((room?.bitrate?.in ?? 0) > 10_000, `inbound bitrate ${room?.bitrate?.in}`);
    assert.notEqual(room?.paused, true, 'a WHIP publisher is never told to pause');
    await pub.stop();
  });

  test('a WHEP viewer of a gated room decodes at once; its first frame against a room never gated', async () => {
    // Never gated: a first viewer holds the room open from the start.
    const neverGated = await publish('never-gated');
    const keeper = await watch('never-gated');
    const pub = await publish('gated-first');
    await gated();
    const baseline = await watch('never-gated');
    const viewer = await watch('gated-first');
    const before = await counts();
    await keepsPlaying(viewer.player);
    await keepsPlaying(baseline.player);
    // Watched, both rooms' media goes through werift: nothing is gated.
    assert.equal((await counts()).gated, before.gated, 'nothing gated while both rooms are watched');
    console.log(`first frame: gated room ${viewer.firstFrameMs} ms, never gated room ${baseline.firstFrameMs} ms`);
    assert.ok(viewer.firstFrameMs < 3_000, `first frame of the gated room after ${viewer.firstFrameMs} ms`);
    for (const s of [viewer.player, baseline.player, keeper.player, pub, neverGated]) await s.stop();
  });

  test('a recording started on a gated room gets its video', async () => {
    const pub = await publish('recorded');
    await gated();
    const api = recordingApi(server.url, server.publishKey);
    assert.equal((await api.start('recorded')).status, 201);
    await waitFor(() => api.status('recorded'), (s) => s.body?.writingSince !== undefined, 10_000, 'the recording writing');
    await sleep(3_000);
    const stopped = await api.stop('recorded');
    assert.equal(stopped.status, 200);
    const file = join(dir, stopped.body!.parts[0]);
    const video = ffprobe(file, ['-count_frames']).streams.find((s) => s.codec_type === 'video');
    assert.ok(video, 'the file has a video stream');
    const frames = Number((video as { nb_read_frames?: string }).nb_read_frames);
    assert.ok(frames >= 30, `video frames in ~3 s of recording: ${frames}`);
    assert.equal(decodeErrors(file), '');
    // The recording over, nobody consumes the room: it is gated again.
    await gated();
    await pub.stop();
  });

  test('viewers come and go: gated, open, gated, open, and the picture comes back each time', async () => {
    const pub = await publish('cycles');
    for (let cycle = 0; cycle < 3; cycle++) {
      const a = await gated();
      const { player, firstFrameMs } = await watch('cycles');
      await keepsPlaying(player);
      assert.ok(firstFrameMs < 3_000, `cycle ${cycle}: first frame after ${firstFrameMs} ms`);
      await player.stop();
      const b = await counts();
      assert.ok(b.received > a.received, 'the publisher is still received');
    }
    await pub.stop();
  });

  test('a simulcast publisher: gated on all three layers, and all three come back', async () => {
    const pub = await publish('layers', { simulcast: true, width: 960, height: 540 });
    const allLayers = (r: RoomInfo | undefined) => r?.layers?.length === 3 && r.layers.every((l) => l.bitsPerSecond > 0 && l.height > 0);
    await waitFor(() => roomInfo(server.url, 'layers'), allLayers, 15_000, 'three layers at the relay');
    const a = await gated();
    await sleep(1_000);
    const b = await counts();
    assert.ok(b.gated - a.gated >= 100, `gated in a second: ${b.gated - a.gated}`);
    // Gated, each layer still shows its rate: the relay still counts each layer's packets.
    const gatedRoom = await roomInfo(server.url, 'layers');
    assert.ok(allLayers(gatedRoom), JSON.stringify(gatedRoom?.layers));
    const { player, firstFrameMs } = await watch('layers');
    await keepsPlaying(player);
    assert.ok(firstFrameMs < 3_000, `first frame after ${firstFrameMs} ms`);
    const c = await counts();
    await sleep(1_000);
    const d = await counts();
    assert.equal(d.gated, c.gated, 'watched: nothing gated');
    // Watched, every layer's packets are read natively and routed by werift (by their rid).
    assert.ok(d.read - c.read >= 100 && d.read - c.read >= (d.received - c.received) * 0.9, `read natively in a second: ${d.read - c.read} of ${d.received - c.received}`);
    const open = await roomInfo(server.url, 'layers');
    assert.ok(allLayers(open), JSON.stringify(open?.layers));
    assert.equal(open!.layers!.reduce((n, l) => n + l.viewers, 0), 1, 'the viewer is sent one layer');
    await player.stop();
    await pub.stop();
  });

  test("a watched room's media is read natively and decodes; with LANCAST_NATIVE_READ=0 Node reads it, and it decodes the same", async () => {
    const pub = await publish('read');
    const { player } = await watch('read');
    const a = await counts();
    await keepsPlaying(player);
    const b = await counts();
    const received = b.received - a.received;
    // Every packet the room received in the window went through the native reader.
    assert.ok(received >= 50, `received ${received}`);
    assert.ok(b.read - a.read >= received * 0.95, `read natively ${b.read - a.read} of ${received}`);
    assert.equal(b.gated, a.gated, 'watched: nothing gated');
    await player.stop();
    await pub.stop();

    const nodeReads = await startLancast({ env: { LANCAST_NATIVE_READ: '0' } });
    try {
      const pub2 = await publish('read', {}, nodeReads);
      const viewer = await watch('read', nodeReads);
      await keepsPlaying(viewer.player);
      const c = await counts(nodeReads.url);
      assert.ok(c.received >= 50, `received ${c.received}`);
      assert.equal(c.read, 0, 'LANCAST_NATIVE_READ=0: nothing read natively');
      await viewer.player.stop();
      await pub2.stop();
    } finally {
      await nodeReads.stop();
    }
  });
});
