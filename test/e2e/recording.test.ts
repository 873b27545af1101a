/**
 * Recording a Chromium broadcast (its fake camera and microphone) for 20 s with the broadcast
 * page's Record button: VP8 to WebM and H.264 (`codec=h264`) to MP4. ffprobe and ffmpeg judge:
 * both streams, duration within 2 % of the wall time, no decode errors, audio and video starting
 * within 40 ms, a frame from the middle that is not black, and frames that change. A p2p room
 * moves to the relay while recorded and the page says so; a reload goes on as part 2.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, pageState, waitFor } from '../helpers/browser.js';
import { frameLuma, recordingApi } from '../helpers/recording.js';
import { decodeErrors, ffprobe } from '../helpers/rtp-capture.js';
import { roomInfo, startLancast, type Lancast } from '../helpers/server.js';

let server: Lancast;
let chromium: Browser;
const dir = mkdtempSync(join(tmpdir(), 'lancast-e2e-rec-'));

before(async () => {
  // --pause-after 0: a room nobody watches keeps sending, so the file's time can be measured from the
  // click (a paused broadcaster restarts its encoder when a recording starts: the file begins at
  // that first keyframe, some 0.5 s later).
  [server, chromium] = await Promise.all([startLancast({ args: ['--recordings-dir', dir, '--pause-after', '0'] }), launchChromium()]);
});
after(async () => {
  await chromium?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function broadcast(path: string): Promise<Page> {
  const page = await chromium.newPage();
  await page.goto(`${server.url}${path}`);
  await waitFor(() => pageState(page), (s) => s === 'live', 20_000, 'the broadcast to go live');
  return page;
}

const recordText = (page: Page) => page.locator('[data-testid="record-status"]').textContent();

for (const codec of ['vp8', 'h264'] as const) {
  describe(`a Chromium broadcast in ${codec}`, () => {
    test('recorded for 20 s with the Record button', async () => {
      const room = `rec-${codec}`;
      // Relayed from the start (a p2p room's recording starts once its stream has moved to the
      // relay: see the test below).
      const page = await broadcast(`/broadcast/${room}?key=${server.publishKey}&autostart=1&codec=${codec}&mode=relay`);
      try {
        await page.locator('[data-testid="record"]').click();
        const clicked = Date.now();
        await waitFor(() => recordText(page), (s) => /^Recording \d+:\d\d · [\d.]+ MB$/.test(s ?? ''), 20_000, 'the page to show the recording');
        // The file's time 0 is its first keyframe, which the status reports (a moment after the
        // click: the relay asks the encoder for one).
        const api = recordingApi(server.url, server.publishKey);
        const since = (await waitFor(() => api.status(room), (s) => s.body?.writingSince !== undefined, 20_000, 'the first keyframe')).body!.writingSince!;
        await waitFor(() => recordText(page), (s) => /^Recording 0:1[5-9]/.test(s ?? ''), 30_000, '15 s on the page');
        await new Promise((r) => setTimeout(r, Math.max(0, since + 20_000 - Date.now())));
        const stopAt = Date.now();
        const stopped = await api.stop(room);
        const wall = (stopAt - since) / 1000;
        const line = server.output().split('\n').find((l) => l.includes('recording file finished') && l.includes(room));
        assert.equal(stopped.status, 200);
        const file = join(dir, stopped.body!.parts[0]);
        assert.ok(file.endsWith(codec === 'vp8' ? '.webm' : '.mp4'));
        const probe = ffprobe(file);
        const video = probe.streams.find((s) => s.codec_type === 'video')!;
        const audio = probe.streams.find((s) => s.codec_type === 'audio')!;
        assert.equal(video.codec_name, codec);
        assert.equal(audio.codec_name, 'opus');
        assert.equal(decodeErrors(file), '');
        assert.ok(Math.abs(Number(video.start_time) - Number(audio.start_time)) <= 0.04, `${video.start_time} / ${audio.start_time}`);
        const duration = Number(probe.format.duration);
        assert.ok(Math.abs(duration - wall) <= 0.02 * wall, `file ${duration} s, wall ${wall} s (${since - clicked} ms from the click): ${line}`);
        const a = frameLuma(file, duration / 2);
        const b = frameLuma(file, duration / 2 + 1);
        // Chromium's fake camera: a bright moving arc and a counter on black.
        assert.ok(a.max > 100, `brightest pixel ${a.max}`);
        assert.notEqual(a.hash, b.hash);
      } finally {
        await page.close();
      }
    });
  });
}

test('a p2p room moves to the relay when recorded; a broadcaster reload goes on in part 2', async () => {
  const room = 'rec-reload';
  const api = recordingApi(server.url, server.publishKey);
  const page = await broadcast(`/broadcast/${room}?key=${server.publishKey}&autostart=1`);
  try {
    // auto, no viewers: p2p. Recording needs the media at the server, and the page says so.
    assert.equal((await roomInfo(server.url, room))?.mode, 'p2p');
    await page.locator('[data-testid="record"]').click();
    await waitFor(() => roomInfo(server.url, room), (r) => r?.mode === 'relay', 10_000, 'the room on the relay');
    assert.equal((await roomInfo(server.url, room))?.reason, 'relay: this room is being recorded');
    await waitFor(() => page.locator('#mode').textContent(), (t) => /being recorded/.test(t ?? ''), 10_000, 'the page to say why');
    assert.ok(await page.getByText('Recording moves this room to the relay').isVisible());
    await waitFor(() => api.status(room), (s) => (s.body?.seconds ?? 0) >= 3, 20_000, '3 s recorded');
    await page.reload();
    await waitFor(() => pageState(page), (s) => s === 'live', 20_000, 'live again');
    const status = await waitFor(() => api.status(room), (s) => s.body?.parts.length === 2 && (s.body.seconds ?? 0) >= 6, 30_000, 'part 2 growing');
    // The page after the reload shows the recording that goes on.
    await waitFor(() => recordText(page), (s) => /^Recording /.test(s ?? ''), 10_000, 'the reloaded page to show it');
    const stopped = await api.stop(room);
    assert.deepEqual(stopped.body!.parts, status.body!.parts);
    for (const part of stopped.body!.parts) {
      const probe = ffprobe(join(dir, part));
      assert.equal(probe.streams.length, 2, part);
      assert.ok(Number(probe.format.duration) > 2, `${part}: ${probe.format.duration}`);
      assert.equal(decodeErrors(join(dir, part)), '');
    }
  } finally {
    await page.close();
  }
});

test('a full disk: the broadcast page says why the recording stopped, and stays live', async (t) => {
  const full = mkdtempSync(join(tmpdir(), 'lancast-e2e-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=400k', 'tmpfs', full]);
  const small = await startLancast({ args: ['--recordings-dir', full, '--pause-after', '0'] });
  t.after(async () => {
    await small.stop();
    execFileSync('umount', [full]);
    rmSync(full, { recursive: true, force: true });
  });
  const page = await chromium.newPage();
  try {
    await page.goto(`${small.url}/broadcast/full?key=${small.publishKey}&autostart=1&mode=relay`);
    await waitFor(() => pageState(page), (s) => s === 'live', 20_000, 'live');
    await page.locator('[data-testid="record"]').click();
    await waitFor(() => recordText(page), (s) => s === 'Recording stopped: the disk is full. The live stream goes on.', 60_000, 'the reason on the page');
    assert.equal(await page.locator('[data-testid="record"]').textContent(), 'Record');
    assert.equal(await pageState(page), 'live');
  } finally {
    await page.close();
  }
});
