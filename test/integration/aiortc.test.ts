/**
 * Python's aiortc against the relay, both ways, with audio and video. aiortc's offers give each
 * bundled section its own ICE credentials (and port); the relay must take the transport's from the
 * BUNDLE group's tagged section (RFC 8843), or no connectivity check passes and DTLS never starts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { aiortcMissing, startPeer, type PeerEvent } from '../helpers/aiortc.js';
import { waitFor } from '../helpers/browser.js';
import { roomInfo, startLancast, type Lancast } from '../helpers/server.js';
import { whepPlay, whipPublish } from '../helpers/wrtc.js';

let server: Lancast;

before(async () => {
  assert.equal(aiortcMissing(), undefined);
  server = await startLancast();
});

after(async () => {
  await server?.stop();
});

type Frames = PeerEvent & { video: number; audio: number; width: number; height: number };
const frames = (e: PeerEvent): e is Frames => e.event === 'frames';

describe('aiortc', () => {
  test('as a WHEP player (audio + video offered, bundled): decodes video frames and audio', async () => {
    const pub = await whipPublish(server.url, 'py-play', 'test-key');
    assert.equal(pub.status, 201, pub.body);
    const player = startPeer('aiortc_whep.py', [`${server.url}/whep/py-play`]);
    try {
      const answer = await player.next((e) => e.event === 'answer', 20_000, 'the answer');
      assert.equal(answer.status, 201, String(answer.body));
      await player.next((e) => e.event === 'connection' && e.state === 'connected', 20_000, 'a connection');
      const first = (await player.next((e) => frames(e) && e.video > 10 && e.audio > 10, 20_000, 'video and audio frames')) as Frames;
      assert.equal(first.width, 640);
      assert.equal(first.height, 480);
      await player.next((e) => frames(e) && e.video > first.video + 10 && e.audio > first.audio + 10, 10_000, 'more frames');
      assert.equal((await roomInfo(server.url, 'py-play'))?.viewers, 1);

      await player.stop();
      const deleted = player.events.find((e) => e.event === 'deleted');
      assert.equal(deleted?.status, 200);
      assert.ok(!player.events.some((e) => e.event === 'error'), JSON.stringify(player.events.filter((e) => e.event === 'error')));
    } finally {
      await player.stop();
      await pub.stop();
    }
  });

  test('as a WHIP publisher (audio + video, bundled): a libwebrtc WHEP player and an aiortc one receive it', async () => {
    const pub = startPeer('aiortc_whip.py', [`${server.url}/whip/py-publish`, server.publishKey]);
    try {
      const answer = await pub.next((e) => e.event === 'answer', 20_000, 'the answer');
      assert.equal(answer.status, 201, String(answer.body));
      await pub.next((e) => e.event === 'connection' && e.state === 'connected', 20_000, 'a connection');
      await waitFor(async () => (await roomInfo(server.url, 'py-publish'))?.live, (live) => live === true, 10_000, 'the room to go live');

      const viewer = await whepPlay(server.url, 'py-publish');
      const pyViewer = startPeer('aiortc_whep.py', [`${server.url}/whep/py-publish`]);
      try {
        assert.equal(viewer.status, 201, viewer.body);
        const first = await waitFor(async () => viewer.frames(), (f) => f.count > 10, 20_000, 'frames at the libwebrtc player');
        assert.equal(first.width, 320);
        assert.equal(first.height, 240);
        const audio = await waitFor(() => viewer.audioBytes(), (b) => b > 1_000, 10_000, 'audio at the libwebrtc player');
        await waitFor(async () => viewer.frames().count, (n) => n > first.count + 10, 10_000, 'more frames');
        await waitFor(() => viewer.audioBytes(), (b) => b > audio, 10_000, 'more audio');

        const py = (await pyViewer.next((e) => frames(e) && e.video > 10 && e.audio > 10, 20_000, 'frames at the aiortc player')) as Frames;
        assert.equal(py.width, 320);
      } finally {
        await pyViewer.stop();
        await viewer.stop();
      }
      await pub.stop();
      assert.equal(pub.events.find((e) => e.event === 'deleted')?.status, 200);
      await waitFor(async () => (await roomInfo(server.url, 'py-publish'))?.live ?? false, (live) => !live, 10_000, 'the room to end');
    } finally {
      await pub.stop();
    }
  });

  test('as a WHEP player of a video-only room: video plays, its audio section is answered inactive', async () => {
    const pub = await whipPublish(server.url, 'py-video-only', 'test-key', { audio: false });
    assert.equal(pub.status, 201, pub.body);
    const player = startPeer('aiortc_whep.py', [`${server.url}/whep/py-video-only`]);
    try {
      assert.equal((await player.next((e) => e.event === 'answer', 20_000, 'the answer')).status, 201);
      const first = (await player.next((e) => frames(e) && e.video > 10, 20_000, 'video frames')) as Frames;
      assert.equal(first.width, 640);
      assert.equal(first.audio, 0);
    } finally {
      await player.stop();
      await pub.stop();
    }
  });
});
