/**
 * A relayed room nobody watches costs nothing: after `--pause-after` seconds without viewers the
 * relay tells the broadcast page to stop sending, and the page's encoders stop (no RTP leaves the
 * browser, none reaches the server). The first viewer to arrive restarts them and sees a picture
 * and hears sound; when the last one leaves, the room pauses again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { assertMediaFlowing, launchChromium, waitFor, waitForState } from '../helpers/browser.js';
import { launchFirefox } from '../helpers/firefox.js';
import { metricValue, roomInfo as serverRoomInfo, startLancast, type Lancast } from '../helpers/server.js';

let server: Lancast;
let chromium: Browser;

before(async () => {
  [server, chromium] = await Promise.all([startLancast({ args: ['--mode', 'relay', '--pause-after', '1'] }), launchChromium()]);
});

after(async () => {
  await chromium?.close();
  await server?.stop();
});

const roomInfo = (room: string) => serverRoomInfo(server.url, room);

/** RTP packets the broadcast page's relay connection has sent so far, per kind. */
const PACKETS_SENT = `(async () => {
  const conn = window.lancast.broadcaster.publishing;
  const out = { audio: 0, video: 0 };
  if (!conn) return out;
  (await conn.pc.getStats()).forEach((s) => { if (s.type === 'outbound-rtp') out[s.kind] += s.packetsSent; });
  return out;
})()`;

function packetsSent(page: Evaluator): Promise<{ audio: number; video: number }> {
  return page.evaluate(PACKETS_SENT) as Promise<{ audio: number; video: number }>;
}

/** The relay's count of packets received from publishers (lancast_relay_packets_received_total). */
async function relayPacketsIn(): Promise<number> {
  const value = await metricValue(server.url, 'lancast_relay_packets_received_total');
  assert.ok(value !== undefined, 'lancast_relay_packets_received_total is exported');
  return value;
}

async function assertSilent(b: Evaluator, ms: number): Promise<void> {
  const [sent0, in0] = [await packetsSent(b), await relayPacketsIn()];
  await new Promise((r) => setTimeout(r, ms));
  const [sent1, in1] = [await packetsSent(b), await relayPacketsIn()];
  assert.deepEqual(sent1, sent0, `a paused broadcaster sent nothing in ${ms} ms`);
  assert.equal(in1, in0, `the relay received nothing in ${ms} ms`);
}

/** What both Playwright's and Puppeteer's pages offer. */
interface Evaluator {
  evaluate(script: string): Promise<unknown>;
}

/** The relay pauses `room`; then, past the packets in flight, nothing is sent for `ms`. */
async function assertPausesAndGoesSilent(b: Evaluator, room: string, ms: number, timeoutMs: number): Promise<void> {
  await waitFor(() => roomInfo(room), (r) => r?.paused === true, timeoutMs, `room ${room} to pause`);
  await new Promise((r) => setTimeout(r, 500));
  await assertSilent(b, ms);
}

/** A Chromium viewer opens the room's watch page and plays video and audio. */
async function watchAndPlay(room: string): Promise<Page> {
  const v = await chromium.newPage();
  await v.goto(`${server.url}/watch/${room}`);
  await waitForState(v, 'live', 20_000);
  await assertMediaFlowing(v); // video frames and audio samples both rising
  return v;
}

describe('pausing an unwatched relayed room', () => {
  test('nobody watching stops the upload; a viewer restarts it and plays; leaving pauses again', async () => {
    const b = await chromium.newPage();
    await b.goto(`${server.url}/broadcast/quiet?key=test-key&autostart=1&mode=relay`);
    try {
      await waitForState(b, 'live', 20_000);
      // Media reaches the relay first (it learns the codecs), then a second later it pauses.
      await waitFor(() => roomInfo('quiet'), (r) => r?.paused === true, 20_000, 'the room to pause');
      await waitFor(() => b.evaluate(() => document.body.dataset.sending), (s) => s === 'paused', 5_000, 'the page to show it paused');
      const status = await b.evaluate(() => document.getElementById('status')!.textContent);
      assert.match(status ?? '', /paused: nobody is watching/);
      await new Promise((r) => setTimeout(r, 500)); // packets already in flight
      await assertSilent(b, 2_000);

      // Loading the watch page wakes the broadcaster before any join; with no join it pauses again.
      // The page's transitions are recorded as they happen (the awake spell lasts only ~1 s).
      await b.evaluate(`(() => { window.__paused = []; window.lancast.broadcaster.on('paused', (p) => window.__paused.push(p)); })()`);
      assert.equal((await fetch(`${server.url}/watch/quiet`)).status, 200);
      assert.equal((await roomInfo('quiet'))?.paused, false, 'woken by the watch page request');
      await waitFor(() => roomInfo('quiet'), (r) => r?.paused === true, 10_000, 'the room to pause again without a viewer');
      const transitions = () => b.evaluate<boolean[]>('window.__paused');
      await waitFor(transitions, (t) => t.length === 2, 5_000, 'the page to resume, then pause again');
      assert.deepEqual(await transitions(), [false, true]);
      assert.equal(await b.evaluate(() => document.body.dataset.sending), 'paused');

      const opened = Date.now();
      const v = await watchAndPlay('quiet');
      console.log(`# first viewer of a paused room: live after ${Date.now() - opened} ms (page load included)`);
      assert.equal((await roomInfo('quiet'))?.paused, false);
      assert.equal(await b.evaluate(() => document.body.dataset.sending), 'on');
      assert.equal(await b.evaluate(() => document.getElementById('status')!.textContent), 'Live');

      await v.close();
      await assertPausesAndGoesSilent(b, 'quiet', 1_500, 10_000);

      // A viewer that arrives again plays again.
      await (await watchAndPlay('quiet')).close();
    } finally {
      await b.close();
    }
  });

  // Firefox ignores `active: false` on audio encodings: the page takes the audio track off instead.
  test('a Firefox broadcaster pauses its audio and video too, and resumes for a viewer', async () => {
    const firefox = await launchFirefox();
    try {
      const b = await firefox.newPage();
      await b.goto(`${server.url}/broadcast/fox?key=test-key&autostart=1&mode=relay`);
      await waitFor(() => b.evaluate(() => document.body.dataset.state), (s) => s === 'live', 20_000, 'Firefox broadcaster live');
      await assertPausesAndGoesSilent(b, 'fox', 2_000, 20_000);
      await (await watchAndPlay('fox')).close();
    } finally {
      await firefox.close();
    }
  });

  test('a room with a viewer is never paused', async () => {
    const b = await chromium.newPage();
    await b.goto(`${server.url}/broadcast/watched?key=test-key&autostart=1&mode=relay`);
    const v = await chromium.newPage();
    await v.goto(`${server.url}/watch/watched`);
    try {
      await waitForState(v, 'live', 20_000);
      await new Promise((r) => setTimeout(r, 2_500)); // past --pause-after
      assert.equal((await roomInfo('watched'))?.paused, false);
      await assertMediaFlowing(v);
    } finally {
      await Promise.all([b.close(), v.close()]);
    }
  });
});
