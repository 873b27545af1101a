/**
 * Recording over a bad link: the broadcaster's Chromium sits behind 5 % loss and 50 ms delay each
 * way (a test host's userspace wire). What reaches the relay has gaps that retransmissions mostly
 * fill; the file must still decode without an error, keep both streams in step, and last the
 * wall time recorded.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { waitFor, waitForState } from '../helpers/browser.js';
import { frameLuma, recordingApi } from '../helpers/recording.js';
import { remoteBroadcasterSetup, type RemoteSetup } from '../helpers/remote-broadcaster.js';
import { decodeErrors, ffprobe } from '../helpers/rtp-capture.js';

let setup: RemoteSetup;
before(async () => {
  setup = await remoteBroadcasterSetup({ loss: 0.05, delayMs: 50 });
});
after(async () => {
  await setup?.close();
});

test('5 % loss on the broadcaster\'s path: a 15 s recording decodes cleanly, in step, as long as the wall time', async () => {
  const { server } = setup;
  const api = recordingApi(`http://${setup.host.hostAddress}:${server.port}`, server.publishKey);
  const page = await setup.broadcast('lossy-rec', 'relay');
  try {
    await waitForState(page, 'live', 60_000);
    assert.equal((await api.start('lossy-rec')).status, 201);
    // Over this link the relay may get the stream a while after the page is live: the file's
    // time 0 is its first keyframe, which the status reports.
    const writing = await waitFor(() => api.status('lossy-rec'), (s) => s.body?.writingSince !== undefined, 30_000, 'the first keyframe written');
    const since = writing.body!.writingSince!;
    await new Promise((r) => setTimeout(r, Math.max(0, since + 15_000 - Date.now())));
    const stopAt = Date.now();
    const stopped = await api.stop('lossy-rec');
    const wall = (stopAt - since) / 1000;
    const file = join(server.dataDir, 'recordings', stopped.body!.parts[0]);
    const probe = ffprobe(file);
    const video = probe.streams.find((s) => s.codec_type === 'video')!;
    const audio = probe.streams.find((s) => s.codec_type === 'audio')!;
    assert.ok(video && audio);
    assert.equal(decodeErrors(file), '');
    assert.ok(Math.abs(Number(video.start_time) - Number(audio.start_time)) <= 0.04);
    const duration = Number(probe.format.duration);
    assert.ok(Math.abs(duration - wall) <= 0.02 * wall + 0.1, `file ${duration} s, wall ${wall} s`);
    const a = frameLuma(file, duration / 2);
    assert.ok(a.max > 100, `brightest pixel ${a.max}`);
    // The picture moves: a second apart, frames differ. A packet lost for good holds the picture
    // until the next keyframe, and a loaded host's camera stalls now and then, so a still second
    // or two is allowed; a file that mostly stands still is not.
    const seconds = Array.from({ length: Math.floor(duration) - 1 }, (_, i) => i + 0.5);
    const hashes = seconds.map((t) => frameLuma(file, t).hash);
    const still = seconds.slice(1).filter((_, i) => hashes[i] === hashes[i + 1]);
    assert.ok(still.length <= 2, `the picture stood still for the second up to ${still.join(', ')} s of ${duration.toFixed(1)} s`);
  } finally {
    await page.close();
  }
});
