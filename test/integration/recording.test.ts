/**
 * Recording through the real server: a WHIP publisher (libwebrtc in Node) is recorded through the
 * HTTP API; ffprobe and ffmpeg judge the files. Access needs the publish key; a SIGKILL leaves a
 * file that plays; SIGTERM finishes files; a reload goes on as part 2; a full disk stops the
 * recording with its reason while viewers keep watching.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { waitFor } from '../helpers/browser.js';
import { frameLuma, recordingApi } from '../helpers/recording.js';
import { decodeErrors, ffprobe } from '../helpers/rtp-capture.js';
import { metricValue, startLancast, type Lancast } from '../helpers/server.js';
import { whepPlay, whipPublish } from '../helpers/wrtc.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function recordingsDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lancast-recordings-'));
  dirs.push(d);
  return d;
}

async function start(dir: string, args: string[] = []): Promise<Lancast> {
  return startLancast({ args: ['--recordings-dir', dir, ...args] });
}

describe('recording a WHIP publisher', () => {
  // A room name in Chinese: the file's name, its download name.
  const ROOM = '讲座';
  test('POST to DELETE: one WebM with both streams, clean, in sync, as long as the wall time, showing the picture', async () => {
    const dir = recordingsDir();
    const server = await start(dir);
    const api = recordingApi(server.url, server.publishKey);
    const pub = await whipPublish(server.url, ROOM, server.publishKey);
    try {
      assert.equal(pub.status, 201);
      await waitFor(() => metricValue(server.url, 'lancast_relay_packets_received_total'), (n) => (n ?? 0) > 50, 15_000, 'media at the relay');
      const asked = Date.now();
      const started = await api.start(ROOM);
      assert.equal(started.status, 201);
      // The file's time 0 is the keyframe the recorder asked for, which the status reports.
      const writing = await waitFor(() => api.status(ROOM), (s) => s.body?.state === 'recording' && s.body.writingSince !== undefined, 20_000, 'recording');
      const since = writing.body!.writingSince!;
      assert.equal(await metricValue(server.url, 'lancast_recordings_active'), 1);
      await new Promise((r) => setTimeout(r, Math.max(0, since + 8_000 - Date.now())));
      const stopAt = Date.now();
      const stopped = await api.stop(ROOM);
      const wall = (stopAt - since) / 1000;
      assert.equal(stopped.status, 200);
      assert.equal(stopped.body!.parts.length, 1);
      assert.equal(await metricValue(server.url, 'lancast_recordings_active'), 0);
      assert.ok((await metricValue(server.url, 'lancast_recording_bytes_written_total'))! >= stopped.body!.bytes * 0.9);
      const file = join(dir, stopped.body!.parts[0]);
      assert.match(file, /讲座_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.webm$/);
      const probe = ffprobe(file);
      const video = probe.streams.find((s) => s.codec_type === 'video')!;
      const audio = probe.streams.find((s) => s.codec_type === 'audio')!;
      assert.equal(video.codec_name, 'vp8');
      assert.equal(audio.codec_name, 'opus');
      assert.equal(decodeErrors(file), '');
      assert.ok(Math.abs(Number(video.start_time) - Number(audio.start_time)) <= 0.04, `starts ${video.start_time} / ${audio.start_time}`);
      const duration = Number(probe.format.duration);
      assert.ok(Math.abs(duration - wall) <= 0.02 * wall + 0.1, `file ${duration} s, wall ${wall} s (first keyframe ${since - asked} ms after the POST)`);
      // The publisher draws moving grey bands: a frame from the middle is not black, and changes.
      const a = frameLuma(file, duration / 2);
      const b = frameLuma(file, duration / 2 + 1);
      assert.ok(a.mean > 30, `mean luma ${a.mean}`);
      assert.notEqual(a.hash, b.hash);
      // Listed, downloadable with the list's URL (ranges), deletable.
      const list = await api.list();
      const item = list.body!.recordings.find((r) => r.file === stopped.body!.parts[0]);
      assert.ok(item && item.room === ROOM && Math.abs(item.duration! - duration) < 0.5 && item.bytes > 10_000);
      const ranged = await fetch(`${server.url}${item.url}`, { headers: { range: 'bytes=100-199' } });
      assert.equal(ranged.status, 206);
      assert.equal(ranged.headers.get('content-range'), `bytes 100-199/${item.bytes}`);
      assert.equal((await ranged.arrayBuffer()).byteLength, 100);
      const saved = await fetch(`${server.url}${item.url}&download=1`, { method: 'HEAD' });
      assert.equal(saved.headers.get('content-disposition'), `attachment; filename="__${item.file.slice(2)}"; filename*=UTF-8''${encodeURIComponent(item.file)}`);
      assert.equal((await api.remove(item.file)).status, 204);
      assert.equal(existsSync(file), false);
    } finally {
      await pub.stop().catch(() => pub.pc.close());
      await server.stop();
    }
  });

  test('no key, no list, no file, no start; wrong keys are rate-limited', async () => {
    const dir = recordingsDir();
    const server = await start(dir, ['--record']);
    const pub = await whipPublish(server.url, 'secret', server.publishKey);
    try {
      const api = recordingApi(server.url, server.publishKey);
      const list = await waitFor(() => api.list(), (l) => (l.body?.recordings.length ?? 0) > 0, 15_000, 'a file from --record');
      const file = list.body!.recordings[0].file;
      const none = recordingApi(server.url, undefined);
      assert.equal((await none.list()).status, 401);
      assert.equal((await none.start('secret')).status, 401);
      assert.equal((await fetch(`${server.url}/api/recordings/${file}`)).status, 401);
      // Three misses from this address: now it must wait, whatever it sends (a forged URL, a wrong key).
      assert.equal((await fetch(`${server.url}/api/recordings/${file}?token=9999999999.forged`)).status, 429);
      const wrong = await fetch(`${server.url}/api/recordings`, { headers: { authorization: 'Bearer not-the-key' } });
      assert.equal(wrong.status, 429);
      const retryAfter = Number(wrong.headers.get('retry-after'));
      assert.ok(retryAfter >= 1);
      // Once its Retry-After has passed, the address may try again.
      await new Promise((r) => setTimeout(r, retryAfter * 1_000 + 200));
      const ok = await api.list();
      assert.equal(ok.status, 200);
      // The list's URL opens the file without the key.
      assert.equal((await fetch(`${server.url}${ok.body!.recordings[0].url}`, { headers: { range: 'bytes=0-3' } })).status, 206);
    } finally {
      await pub.stop().catch(() => pub.pc.close());
      await server.stop();
    }
  });

  test('SIGKILL 10 s into a recording: the file plays, at least 8 s of it; the next start completes it', async () => {
    const dir = recordingsDir();
    const server = await start(dir);
    const pub = await whipPublish(server.url, 'kill', server.publishKey);
    try {
      const api = recordingApi(server.url, server.publishKey);
      await waitFor(() => metricValue(server.url, 'lancast_relay_packets_received_total'), (n) => (n ?? 0) > 50, 15_000, 'media at the relay');
      await api.start('kill');
      await waitFor(() => api.status('kill'), (s) => (s.body?.seconds ?? 0) >= 10, 30_000, '10 s recorded');
      server.proc.kill('SIGKILL');
      await new Promise((r) => server.proc.once('exit', r));
      const [name] = readdirSync(dir).filter((f) => f.endsWith('.webm'));
      const file = join(dir, name);
      const packets = ffprobe(file, ['-show_packets']).packets!;
      const last = Math.max(...packets.map((p) => Number(p.pts_time)));
      assert.ok(last >= 8, `the file reads to ${last} s`);
      assert.equal(decodeErrors(file), '');
      assert.equal(ffprobe(file).format.duration, undefined, 'a live-written WebM has no duration yet');
      // The next start completes it: the file gets its duration and the list shows it.
      const again = await start(dir);
      try {
        await waitFor(async () => again.output(), (o) => /recording file completed after an unclean stop/.test(o), 20_000, 'the repair');
        const duration = Number(ffprobe(file).format.duration);
        assert.ok(duration >= last, `duration ${duration}`);
        const listed = (await recordingApi(again.url, again.publishKey).list()).body!.recordings[0];
        assert.ok(Math.abs(listed.duration! - duration) < 0.1);
        assert.equal(decodeErrors(file), '');
      } finally {
        await again.stop();
      }
    } finally {
      await pub.stop().catch(() => pub.pc.close()); // the server is gone
      await server.stop();
    }
  });

  test('the publisher reconnects: the recording goes on as part 2; SIGTERM finishes it with its duration', async () => {
    const dir = recordingsDir();
    const server = await start(dir);
    const api = recordingApi(server.url, server.publishKey);
    let pub = await whipPublish(server.url, 'reload', server.publishKey);
    try {
      await api.start('reload');
      await waitFor(() => api.status('reload'), (s) => (s.body?.seconds ?? 0) >= 3, 20_000, '3 s recorded');
      await pub.stop().catch(() => pub.pc.close());
      await waitFor(() => api.status('reload'), (s) => s.body?.state === 'waiting', 10_000, 'waiting for the publisher');
      pub = await whipPublish(server.url, 'reload', server.publishKey);
      const status = await waitFor(() => api.status('reload'), (s) => s.body?.parts.length === 2 && s.body.state === 'recording', 20_000, 'part 2');
      assert.match(status.body!.parts[1], /^reload_.+_part2\.webm$/);
      assert.equal(status.body!.parts[1].replace('_part2', ''), status.body!.parts[0]);
      // 3 s of part 2 itself (part 1 may hold more than 3 s, so the total says little): since its first frame.
      await waitFor(() => api.status('reload'), (s) => s.body?.writingSince !== undefined && Date.now() - s.body.writingSince >= 3_500, 20_000, '3 s more');
      assert.equal(await server.stop(), 0);
      assert.match(server.output(), /recording file finished/);
      for (const part of status.body!.parts) {
        const probe = ffprobe(join(dir, part));
        assert.ok(Number(probe.format.duration) >= 2.5, `${part}: ${probe.format.duration} s`);
        assert.equal(probe.streams.length, 2);
        assert.equal(decodeErrors(join(dir, part)), '');
      }
    } finally {
      await pub.stop().catch(() => pub.pc.close());
      await server.stop();
    }
  });

  test('a full disk stops the recording with its reason in the status and the log; the viewer keeps watching', async (t) => {
    const dir = recordingsDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=300k', 'tmpfs', dir]);
    t.after(() => execFileSync('umount', [dir]));
    const server = await start(dir);
    const api = recordingApi(server.url, server.publishKey);
    const pub = await whipPublish(server.url, 'full', server.publishKey, { noise: true });
    const player = await whepPlay(server.url, 'full');
    try {
      await waitFor(async () => player.frames().count, (n) => n > 10, 15_000, 'the viewer sees frames');
      await api.start('full');
      const failed = await waitFor(() => api.status('full'), (s) => s.body?.state === 'failed', 30_000, 'the recording to fail');
      assert.equal(failed.body!.error, 'the disk is full');
      assert.match(server.output(), /recording stopped: the disk is full; the live stream goes on/);
      const before = player.frames().count;
      await waitFor(async () => player.frames().count, (n) => n > before + 30, 15_000, 'frames after the failure');
      assert.equal(await metricValue(server.url, 'lancast_recording_errors_total'), 1);
    } finally {
      await player.stop().catch(() => player.pc.close());
      await pub.stop().catch(() => pub.pc.close());
      await server.stop();
    }
  });
});
