/**
 * Rooms with one kind of media (a camera without a microphone, a screen share, a radio stream)
 * played over WHEP by a player that offers audio and video, as every player does: the player
 * gets what the room has, and its other section is answered inactive (libwebrtc, @roamhq/wrtc).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers/browser.js';
import { startLancast, type Lancast } from '../helpers/server.js';
import { whepPlay, whipPublish } from '../helpers/wrtc.js';

let server: Lancast;

before(async () => {
  server = await startLancast();
});

after(async () => {
  await server?.stop();
});

/** The answer's media sections: kind, port, direction, mid. */
function sectionsOf(sdp: string): { kind: string; port: number; direction: string; mid: string }[] {
  return sdp
    .split(/\r?\n(?=m=)/)
    .slice(1)
    .map((s) => ({
      kind: /^m=(\w+)/.exec(s)![1],
      port: Number(/^m=\w+ (\d+)/.exec(s)![1]),
      direction: /^a=(sendonly|recvonly|sendrecv|inactive)\r?$/m.exec(s)?.[1] ?? 'sendrecv',
      mid: /^a=mid:(\S+)/m.exec(s)?.[1] ?? '',
    }));
}

function bundle(sdp: string): string[] {
  return /^a=group:BUNDLE (.*?)\r?$/m.exec(sdp)?.[1]?.split(' ') ?? [];
}

describe('WHEP of a room with one kind of media', () => {
  test('video only: an audio + video player gets 201, decodes video; its audio is answered inactive', async () => {
    const pub = await whipPublish(server.url, 'video-only', 'test-key', { audio: false });
    assert.equal(pub.status, 201, pub.body);
    const player = await whepPlay(server.url, 'video-only');
    try {
      assert.equal(player.status, 201, player.body);
      const sections = sectionsOf(player.body);
      assert.deepEqual(sections.map((s) => [s.kind, s.direction]), [['audio', 'inactive'], ['video', 'sendonly']]);
      // Accepted, not rejected: the audio section is the BUNDLE group's tagged one.
      assert.ok(sections.every((s) => s.port !== 0), player.body);
      assert.deepEqual(bundle(player.body), sections.map((s) => s.mid));

      const first = await waitFor(async () => player.frames(), (f) => f.count > 10, 15_000, 'decoded frames');
      assert.equal(first.width, 640);
      await waitFor(async () => player.frames().count, (n) => n > first.count, 5_000, 'more frames');
      assert.equal(await player.audioBytes(), 0);
      assert.equal(await player.stop(), 200);
    } finally {
      await player.stop().catch(() => undefined);
      await pub.stop();
    }
  });

  test('audio only: an audio + video player gets 201 and audio; its video is answered inactive', async () => {
    const pub = await whipPublish(server.url, 'audio-only', 'test-key', { video: false });
    assert.equal(pub.status, 201, pub.body);
    const player = await whepPlay(server.url, 'audio-only');
    try {
      assert.equal(player.status, 201, player.body);
      const sections = sectionsOf(player.body);
      assert.deepEqual(sections.map((s) => [s.kind, s.direction]), [['audio', 'sendonly'], ['video', 'inactive']]);
      assert.ok(sections.every((s) => s.port !== 0), player.body);

      const bytes = await waitFor(() => player.audioBytes(), (b) => b > 1_000, 15_000, 'audio bytes');
      await waitFor(() => player.audioBytes(), (b) => b > bytes, 5_000, 'more audio bytes');
      assert.equal(player.frames().count, 0);
      assert.equal(await player.stop(), 200);
    } finally {
      await player.stop().catch(() => undefined);
      await pub.stop();
    }
  });
});
