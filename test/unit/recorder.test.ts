/**
 * The recorder fed with real RTP: captures of Chromium publishing VP8 and H.264 with Opus to the
 * relay's publisher leg (test/fixtures, made by scripts/capture-rtp.ts; the camera changes from
 * 640x480 to 320x240 halfway). ffprobe and ffmpeg judge the files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Recorder } from '../../src/relay/recorder/recorder.js';
import { completeFile, fileExtension } from '../../src/relay/recorder/writer.js';
import { depacketizeVideo } from '../../src/relay/recorder/depacketize.js';
import { decodeErrors, ffprobe, loadCapture, replay, videoFrameHashes, type Capture, type CaptureRecord, type CapturedPacket } from '../helpers/rtp-capture.js';

const dir = mkdtempSync(join(tmpdir(), 'lancast-recorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CODECS = ['vp8', 'h264'] as const;
type Codec = (typeof CODECS)[number];

async function record(codec: Codec, name: string, keep?: (r: CaptureRecord, i: number) => boolean, shift?: (r: CaptureRecord) => CaptureRecord) {
  const capture = loadCapture(codec);
  const fed: Capture = shift ? { ...capture, records: capture.records.map(shift).sort((a, b) => a.t - b.t) } : capture;
  const tracks = { video: codec, audio: 'opus' as const };
  const path = join(dir, `${name}${fileExtension(tracks)}`);
  let keyframeAsks = 0;
  const recorder = new Recorder({ path, tracks, requestKeyframe: () => keyframeAsks++ });
  void recorder.open();
  const end = replay(fed, recorder, keep);
  const stats = await recorder.stop(end);
  return { path, stats, keyframeAsks, capture };
}

/** The capture's video frames (packets by RTP timestamp), and whether each is a whole keyframe. */
function videoFrames(capture: Capture, codec: Codec) {
  const byTs = new Map<number, CapturedPacket[]>();
  for (const r of capture.records) if ('seq' in r && r.k === 'video') byTs.set(r.ts, [...(byTs.get(r.ts) ?? []), r]);
  return [...byTs.values()].map((packets) => ({ packets, key: depacketizeVideo(codec, packets.map((p) => p.payload))?.key === true }));
}

function frames(path: string) {
  return ffprobe(path, ['-show_frames']).frames!;
}

for (const codec of CODECS) {
  describe(`recording ${codec} + opus`, () => {
    test('the file has both streams, decodes cleanly, starts together and lasts the time recorded', async () => {
      const { path, stats, keyframeAsks, capture } = await record(codec, `${codec}-clean`);
      assert.equal(path.endsWith(codec === 'vp8' ? '.webm' : '.mp4'), true);
      assert.equal(keyframeAsks >= 1, true, 'the recorder asks for a keyframe to start on');
      const probe = ffprobe(path);
      const video = probe.streams.find((s) => s.codec_type === 'video');
      const audio = probe.streams.find((s) => s.codec_type === 'audio');
      assert.equal(video?.codec_name, codec);
      assert.equal(audio?.codec_name, 'opus');
      assert.equal(decodeErrors(path), '');
      assert.ok(Math.abs(Number(video.start_time) - Number(audio.start_time)) <= 0.04, `starts ${video.start_time} / ${audio.start_time}`);
      // From the keyframe the recorder asked for to the end of the capture.
      const firstKey = videoFrames(capture, codec).find((f) => f.key)!.packets[0].t;
      const wall = (capture.records.at(-1)!.t - firstKey) / 1000;
      const duration = Number(probe.format.duration);
      assert.ok(Math.abs(duration - wall) <= 0.02 * wall + 0.05, `duration ${duration} s, recorded ${wall} s`);
      assert.equal(stats.sync, 'reports');
      // The camera's change of size is in the file, both sizes decode.
      const sizes = new Set(frames(path).filter((f) => f.media_type === 'video').map((f) => `${f.width}x${f.height}`));
      assert.deepEqual([...sizes].sort(), ['320x240', '640x480']);
    });

    test('audio and video stay in sync through the sender reports when audio arrives 200 ms late', async () => {
      const late = (r: CaptureRecord): CaptureRecord => (r.k === 'audio' && 'seq' in r ? { ...r, t: r.t + 200 } : r);
      const synced = await record(codec, `${codec}-late-audio`, undefined, late);
      const reference = await record(codec, `${codec}-reference`);
      // The same audio packets, differently delayed on the way: at the same times in the file.
      const audioTimes = (path: string) =>
        new Map(ffprobe(path, ['-show_packets', '-show_data_hash', 'md5']).packets!.filter((p) => p.codec_type === 'audio').map((p) => [p.data_hash!, Number(p.pts_time)]));
      const a = audioTimes(synced.path);
      const b = audioTimes(reference.path);
      const common = [...a.keys()].filter((hash) => b.has(hash));
      assert.ok(common.length > 100, `${common.length} audio packets in both`);
      const off = common.map((hash) => Math.abs(a.get(hash)! - b.get(hash)!));
      assert.ok(Math.max(...off) <= 0.002, `audio moved by up to ${Math.max(...off)} s`);
    });

    test('audio that begins after the picture is led in with silence: both tracks start together', async () => {
      const firstKey = videoFrames(loadCapture(codec), codec).find((f) => f.key)!.packets[0].t;
      // No audio for the first 300 ms after the keyframe (a microphone that starts late, lost packets).
      const keep = (r: CaptureRecord) => !('seq' in r && r.k === 'audio' && r.t > firstKey - 100 && r.t < firstKey + 300);
      const { path } = await record(codec, `${codec}-late-mic`, keep);
      const probe = ffprobe(path);
      const starts = probe.streams.map((s) => Number(s.start_time));
      assert.ok(Math.abs(starts[0] - starts[1]) <= 0.04, `starts ${starts.join(', ')}`);
      assert.equal(decodeErrors(path), '');
    });

    test('video packets lost for good: broken frames are left out until a keyframe, and the file decodes cleanly', async () => {
      // Lose, for good, the last packet of the third delta frame that spans several packets
      // (after which only the second keyframe, at the change of size, can repair the picture).
      const frames = videoFrames(loadCapture(codec), codec);
      const keys = frames.flatMap((f, i) => (f.key ? [i] : []));
      assert.equal(keys.length, 2);
      const victim = frames.slice(keys[0] + 1).filter((f) => f.packets.length > 1)[2];
      const lost = new Set([victim.packets.at(-1)!.seq]);
      const keep = (r: CaptureRecord) => !('seq' in r && r.k === 'video' && lost.has(r.seq));
      const { path, stats, keyframeAsks } = await record(codec, `${codec}-lossy`, keep);
      assert.ok(stats.droppedFrames > 0);
      assert.ok(keyframeAsks >= 2, 'a broken frame asks for a keyframe');
      assert.equal(decodeErrors(path), '');
      assert.ok(ffprobe(path).streams.length === 2);
      // Every picture in the file is the one the publisher sent: compare with the loss-free recording.
      const clean = videoFrameHashes((await record(codec, `${codec}-loss-free`)).path);
      const lossy = videoFrameHashes(path);
      assert.ok(lossy.size < clean.size - 5, `${lossy.size} of ${clean.size} frames`);
      assert.ok(Math.max(...lossy.keys()) === Math.max(...clean.keys()), 'the recording goes on after the next keyframe');
      const differ = [...lossy].filter(([pts, hash]) => clean.get(pts) !== hash);
      assert.deepEqual(differ, [], 'frames that show something the publisher did not send');
    });

    test('packets out of order are put back in order: the same file as in order', async () => {
      const capture = loadCapture(codec);
      // Swap neighbours: every other video packet arrives after the next one.
      const records = [...capture.records];
      for (let i = 0; i + 1 < records.length; i += 7) {
        const [a, b] = [records[i], records[i + 1]];
        if ('seq' in a && 'seq' in b && a.k === b.k) [records[i], records[i + 1]] = [{ ...b, t: a.t }, { ...a, t: b.t }];
      }
      const inOrder = await record(codec, `${codec}-in-order`);
      const tracks = { video: codec, audio: 'opus' as const };
      const path = join(dir, `${codec}-swapped${fileExtension(tracks)}`);
      const recorder = new Recorder({ path, tracks, requestKeyframe: () => undefined });
      void recorder.open();
      const stats = await recorder.stop(replay({ ...capture, records }, recorder));
      assert.equal(stats.videoFrames, inOrder.stats.videoFrames);
      assert.equal(stats.audioFrames, inOrder.stats.audioFrames);
      assert.equal(stats.lostPackets, 0);
      assert.equal(decodeErrors(path), '');
    });

    test('a file taken while still being written (as a SIGKILL leaves it) plays up to its last second', async () => {
      const capture = loadCapture(codec);
      const tracks = { video: codec, audio: 'opus' as const };
      const path = join(dir, `${codec}-killed${fileExtension(tracks)}`);
      const recorder = new Recorder({ path, tracks, requestKeyframe: () => undefined });
      void recorder.open();
      const end = replay(capture, recorder);
      await new Promise((r) => setTimeout(r, 300)); // what the muxer has written by now is on disk
      const snapshot = `${path}.snapshot${fileExtension(tracks)}`;
      copyFileSync(path, snapshot);
      await recorder.stop(end);
      const packets = ffprobe(snapshot, ['-show_packets']).packets!;
      const last = Math.max(...packets.map((p) => Number(p.pts_time)));
      assert.ok(last >= recorder.stats.seconds - 2.2, `the snapshot reaches ${last} s of ${recorder.stats.seconds}`);
      assert.equal(decodeErrors(snapshot), '');
      // Completed afterwards (as the next start does): a WebM gets the duration it lacked.
      const duration = await completeFile(snapshot);
      assert.ok(Math.abs(Number(ffprobe(snapshot).format.duration) - duration) < 0.1, `${ffprobe(snapshot).format.duration} vs ${duration}`);
      assert.ok(duration >= last);
      assert.equal(decodeErrors(snapshot), '');
    });
  });
}

test('a full disk fails the recording with ENOSPC, and what was written before still plays', async (t) => {
  const mount = mkdtempSync(join(tmpdir(), 'lancast-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mount]);
  t.after(() => {
    execFileSync('umount', [mount]);
    rmSync(mount, { recursive: true, force: true });
  });
  const capture = loadCapture('vp8');
  const path = join(mount, 'full.webm');
  const errors: Error[] = [];
  const recorder = new Recorder({ path, tracks: { video: 'vp8', audio: 'opus' }, requestKeyframe: () => undefined, onError: (e) => errors.push(e) });
  void recorder.open();
  await recorder.stop(replay(capture, recorder));
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /ENOSPC/);
  assert.ok(statSync(path).size > 30_000);
  assert.ok(ffprobe(path).streams.length === 2);
});
