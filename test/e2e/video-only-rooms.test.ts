/**
 * A broadcaster with a camera and no microphone (the broadcast page's microphone set to "none"):
 * the watch page plays it through the relay and peer to peer, and a browser WHEP player that
 * offers audio and video plays it too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import { startPlayerSite, type PlayerSite } from '../helpers/player-site.js';
import { roomInfo, startLancast, type Lancast } from '../helpers/server.js';

let server: Lancast;
let chromium: Browser;
let site: PlayerSite;
let siteUrl: string;

before(async () => {
  [server, chromium, site] = await Promise.all([startLancast(), launchChromium(), startPlayerSite()]);
  siteUrl = site.url;
});

after(async () => {
  await chromium?.close();
  await server?.stop();
  await site?.close();
});

/** The broadcast page with its microphone set to "none", live in `mode`. */
async function broadcastCameraOnly(room: string, mode: 'relay' | 'p2p'): Promise<Page> {
  const page = await chromium.newPage();
  await page.goto(`${server.url}/broadcast/${room}?key=test-key&mode=${mode}`);
  await page.locator('#microphone option[value="none"]').waitFor({ state: 'attached', timeout: 15_000 });
  await page.selectOption('#microphone', 'none');
  await waitFor(
    () =>
      page.evaluate(() => {
        const s = (document.getElementById('preview') as HTMLVideoElement).srcObject as MediaStream | null;
        return s ? { audio: s.getAudioTracks().length, video: s.getVideoTracks().length } : undefined;
      }),
    (tracks) => tracks?.audio === 0 && tracks.video === 1,
    15_000,
    'the preview to hold the camera alone',
  );
  await page.click('#start');
  await waitForState(page, 'live', 20_000);
  return page;
}

/** The watch page plays the room: frames decode and keep coming; no audio arrives. */
async function assertWatchPagePlays(room: string): Promise<void> {
  const viewer = await chromium.newPage();
  try {
    await viewer.goto(`${server.url}/watch/${room}`);
    await waitForState(viewer, 'live', 20_000);
    const first = await waitFor(() => viewerCounters(viewer), (c) => c.width > 0 && c.framesDecoded > 0, 20_000, 'a decoded frame');
    await waitFor(() => viewerCounters(viewer), (c) => c.framesDecoded > first.framesDecoded + 10, 10_000, 'frames to keep coming');
    assert.equal(first.audioBytes, 0);
  } finally {
    await viewer.close();
  }
}

describe('a room with video and no audio', () => {
  test('through the relay: the watch page and a browser WHEP player (offering audio and video) play it', async () => {
    const broadcaster = await broadcastCameraOnly('camera-only', 'relay');
    try {
      await assertWatchPagePlays('camera-only');

      const player = await chromium.newPage();
      try {
        await player.goto(siteUrl);
        const played = (await player.evaluate<{ status: number; body?: string }>(`play(${JSON.stringify(`${server.url}/whep/camera-only`)})`));
        assert.equal(played.status, 201, played.body);
        await waitFor(() => player.evaluate<number>('videoWidth()'), (w) => w > 0, 20_000, 'a decoded frame in the WHEP player');
        assert.deepEqual(await player.evaluate('hangUp()'), { status: 200 });
      } finally {
        await player.close();
      }
      assert.equal((await roomInfo(server.url, 'camera-only'))?.mode, 'relay');
    } finally {
      await broadcaster.close();
    }
  });

  test('peer to peer: the watch page plays it', async () => {
    const broadcaster = await broadcastCameraOnly('camera-only-p2p', 'p2p');
    try {
      await assertWatchPagePlays('camera-only-p2p');
      assert.equal((await roomInfo(server.url, 'camera-only-p2p'))?.mode, 'p2p');
    } finally {
      await broadcaster.close();
    }
  });
});
