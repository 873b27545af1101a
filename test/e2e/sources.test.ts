/**
 * Broadcasting a screen, a camera, or both, and switching between them while live, in real
 * Chromium: getDisplayMedia really captures a tab (a test page of a known colour), the camera is a
 * clip of another known colour, and each assertion reads the viewers' decoded pictures.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { frameGaps, recordFrames, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import {
  colourOf,
  connectionLog,
  pickSource,
  seen,
  sharingRig,
  toneLevel,
  watchConnection,
  type Seen,
} from './sources-kit.js';

const TITLE = 'LANCAST-SHARED-TAB';
const rig = sharingRig(TITLE);

/** The tab getDisplayMedia will capture. */
async function openSharedTab(): Promise<Page> {
  const page = await rig.context.newPage();
  await page.goto(`${rig.site.url}/colour?title=${TITLE}`);
  return page;
}

async function broadcast(room: string, query: string): Promise<Page> {
  const page = await rig.context.newPage();
  await page.goto(`${rig.server.url}/broadcast/${room}?key=test-key&${query}`);
  return page;
}

/** A viewer in its own window: a tab behind others would see its frames throttled. */
async function watch(room: string): Promise<Page> {
  const page = await (await rig.browser.newContext()).newPage();
  await page.goto(`${rig.server.url}/watch/${room}`);
  await waitForState(page, 'live', 30_000);
  return page;
}

type Picture = 'camera' | 'screen' | 'screen+camera' | 'still';

function pictureOf(s: Seen): Picture | 'other' {
  const centre = colourOf(s.centre);
  if (centre === 'screen') return colourOf(s.corner) === 'camera' ? 'screen+camera' : 'screen';
  return centre;
}

/** Wait until a viewer shows `picture` (at `size`, when given). */
async function waitForPicture(viewer: Page, picture: Picture, size?: [number, number], timeoutMs = 20_000): Promise<Seen> {
  return waitFor(
    () => seen(viewer),
    (s) => pictureOf(s) === picture && s.width > 0 && (!size || (s.width === size[0] && s.height === size[1])),
    timeoutMs,
    `the viewer to show ${picture}${size ? ` at ${size.join('x')}` : ''}`,
  );
}

async function closeAll(pages: (Page | undefined)[]): Promise<void> {
  await Promise.all(pages.map((p) => (!p ? Promise.resolve() : p.context() !== rig.context ? p.context().close() : p.close()).then(undefined, () => undefined)));
}

for (const mode of ['p2p', 'relay'] as const) {
  describe(`switching sources while live (${mode})`, () => {
    test('camera → screen → screen+camera → camera with 3 viewers: each sees every source, none reconnects', async (t) => {
      const shared = await openSharedTab();
      const room = `switch-${mode}`;
      const b = await broadcast(room, `autostart=1&mode=${mode}&source=camera`);
      let viewers: Page[] = [];
      try {
        await waitForState(b, 'live', 20_000);
        viewers = await Promise.all([watch(room), watch(room), watch(room)]);
        for (const v of viewers) {
          const s = await waitForPicture(v, 'camera');
          assert.equal(s.width / s.height, 4 / 3);
          await watchConnection(v);
          await recordFrames(v);
        }
        for (const next of ['screen', 'screen+camera', 'camera'] as const) {
          await pickSource(b, next);
          for (const v of viewers) {
            // A screen is decoded at its own size, 1280x720: its default preset holds resolution.
            // The camera's favours motion, and a busy machine may send it smaller (4:3 still).
            const s = await waitForPicture(v, next, next === 'camera' ? undefined : [1280, 720]);
            if (next === 'camera') assert.equal(s.width / s.height, 4 / 3);
          }
        }
        const expected = mode === 'p2p' ? 'viewer pages connected to the broadcaster' : 'viewer pages connected to the relay';
        for (const [i, v] of viewers.entries()) {
          const log = await connectionLog(v);
          assert.equal(log.samePc, true, `viewer ${i} plays another RTCPeerConnection now`);
          assert.equal(log.offers, 0, `viewer ${i} received ${log.offers} new offers`);
          assert.equal(log.connectionState, 'connected');
          // The watch page never said "connecting" (or anything but live) during the switches.
          assert.deepEqual(log.states, ['live'], `viewer ${i} showed ${log.states.join(' → ')}`);
          const gaps = await frameGaps(v);
          t.diagnostic(`${mode} viewer ${i}: ${gaps.frames} frames, longest pause ${gaps.longestGapMs} ms (${expected})`);
        }
        if (mode === 'p2p') {
          const pcs = await b.evaluate(() => [...(window as unknown as { lancast: { broadcaster: { connections: Map<string, { pc: RTCPeerConnection }> } } }).lancast.broadcaster.connections.values()].map((c) => c.pc.connectionState));
          assert.deepEqual(pcs, ['connected', 'connected', 'connected']);
        }
      } finally {
        await closeAll([b, shared, ...viewers]);
      }
    });
  });
}

describe('the shared screen ends from the browser', () => {
  test('closing the shared tab ends the capture: the page falls back to the camera, viewers keep playing on the same connection', async () => {
    const shared = await openSharedTab();
    const b = await broadcast('ended', 'autostart=1&mode=relay&source=screen');
    let v: Page | undefined;
    try {
      await waitForState(b, 'live', 20_000);
      v = await watch('ended');
      await waitForPicture(v, 'screen');
      await watchConnection(v);
      await shared.close();
      await waitForPicture(v, 'camera');
      const log = await connectionLog(v);
      assert.equal(log.samePc, true);
      assert.deepEqual(log.states, ['live']);
      assert.equal(await b.locator('input[name=source][value=camera]').isChecked(), true);
      assert.match((await b.textContent('#source-status')) ?? '', /Screen sharing ended; showing the camera/);
    } finally {
      await closeAll([b, shared, v]);
    }
  });

  test('without a camera the viewers see a "presenter paused" still instead of black', async () => {
    const shared = await openSharedTab();
    const b = await broadcast('ended-still', 'mode=p2p&source=screen');
    let v: Page | undefined;
    try {
      await b.locator('#camera option[value="none"]').waitFor({ state: 'attached', timeout: 15_000 });
      await b.selectOption('#camera', 'none');
      await b.click('#start');
      await waitForState(b, 'live', 20_000);
      v = await watch('ended-still');
      await waitForPicture(v, 'screen');
      await watchConnection(v);
      await shared.close();
      await waitForPicture(v, 'still');
      await recordFrames(v);
      // The still keeps coming (new viewers get a frame; the watch page does not call it stalled).
      await waitFor(() => frameGaps(v!), (g) => g.frames >= 3, 10_000, 'still frames to keep coming');
      assert.equal((await connectionLog(v)).samePc, true);
      assert.match((await b.textContent('#source-status')) ?? '', /Presenter paused/);
    } finally {
      await closeAll([b, shared, v]);
    }
  });
});

describe('source= in the URL', () => {
  for (const compositor of ['frames', 'canvas'] as const) {
    test(`?autostart=1&source=screen+camera: a viewer sees the screen with the camera in its corner (${compositor === 'canvas' ? 'canvas compositor' : 'VideoFrame compositor'})`, async () => {
      const shared = await openSharedTab();
      const room = `both-${compositor}`;
      const b = await broadcast(room, `autostart=1&mode=relay&source=screen%2Bcamera${compositor === 'canvas' ? '&compositor=canvas' : ''}`);
      let v: Page | undefined;
      try {
        await waitForState(b, 'live', 20_000);
        v = await watch(room);
        await waitForPicture(v, 'screen+camera', [1280, 720]);
        // A still screen still sends frames: the picture keeps moving for the watch page.
        await recordFrames(v);
        await waitFor(() => frameGaps(v!), (g) => g.frames >= 10, 10_000, 'frames to keep coming');
        assert.equal(await b.locator('input[name=source][value="screen+camera"]').isChecked(), true);
      } finally {
        await closeAll([b, shared, v]);
      }
    });
  }

  test('?autostart=1&source=screen of a still page: viewers keep getting frames (no "picture stopped")', async () => {
    const shared = await openSharedTab();
    const b = await broadcast('still-screen', 'autostart=1&mode=p2p&source=screen');
    let v: Page | undefined;
    try {
      await waitForState(b, 'live', 20_000);
      v = await watch('still-screen');
      await waitForPicture(v, 'screen');
      await watchConnection(v);
      await recordFrames(v);
      await new Promise((r) => setTimeout(r, 4_000));
      const gaps = await frameGaps(v);
      assert.ok(gaps.frames >= 4, `only ${gaps.frames} frames in 4 s`);
      assert.deepEqual((await connectionLog(v)).states, ['live']);
    } finally {
      await closeAll([b, shared, v]);
    }
  });
});

describe('changing the microphone while live', () => {
  for (const mode of ['p2p', 'relay'] as const) {
    test(`${mode}: went live without a microphone, then picked one: viewers hear it${mode === 'p2p' ? ' on the same connection' : ''}`, async () => {
      const room = `mic-${mode}`;
      const b = await broadcast(room, `mode=${mode}&source=camera`);
      let v: Page | undefined;
      try {
        await b.locator('#microphone option[value="none"]').waitFor({ state: 'attached', timeout: 15_000 });
        await b.selectOption('#microphone', 'none');
        await b.click('#start');
        await waitForState(b, 'live', 20_000);
        v = await watch(room);
        await waitForPicture(v, 'camera');
        await watchConnection(v);
        assert.equal((await viewerCounters(v)).audioBytes, 0);
        const mics = await b.locator('#microphone option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value).filter((id) => id !== 'none'));
        assert.ok(mics.length >= 1, 'the fake microphones are listed');
        await b.selectOption('#microphone', mics.at(-1)!);
        const first = await waitFor(() => viewerCounters(v!), (c) => c.audioBytes > 0, 20_000, 'audio at the viewer');
        await waitFor(() => viewerCounters(v!), (c) => c.audioSamples > first.audioSamples && c.framesDecoded > first.framesDecoded, 10_000, 'audio and video to keep coming');
        if (mode === 'p2p') {
          // Offered again on the same connection, answered in place.
          const log = await connectionLog(v);
          assert.equal(log.samePc, true);
          assert.deepEqual(log.states, ['live']);
        }
        // Another microphone: replaced on the senders, the sound goes on.
        await b.selectOption('#microphone', mics[0]);
        const before = await viewerCounters(v);
        await waitFor(() => viewerCounters(v!), (c) => c.audioSamples > before.audioSamples + 48_000, 10_000, 'audio from the other microphone');
      } finally {
        await closeAll([b, v]);
      }
    });
  }
});

describe('the shared screen\'s sound and the keyboard', () => {
  test('a tab playing a tone, shared with the microphone on: viewers hear the tone; "Include the screen\'s sound" off leaves the microphone alone', async () => {
    const shared = await rig.context.newPage();
    await shared.goto(`${rig.site.url}/tone?title=${TITLE}`);
    const b = await broadcast('tone', 'autostart=1&mode=relay&source=screen');
    let v: Page | undefined;
    try {
      await waitForState(b, 'live', 20_000);
      v = await watch('tone');
      await waitForPicture(v, 'screen');
      // The tab's 3 kHz tone stands far above the rest of the spectrum: mixed in with the microphone.
      await waitFor(() => toneLevel(v!), (db) => db > 30, 20_000, 'the tone at the viewer');
      const mixed = await b.evaluate(() => (window as unknown as { lancast: { sources: { mic?: MediaStreamTrack; output: { audio: MediaStreamTrack | null } } } }).lancast.sources.output.audio !== (window as unknown as { lancast: { sources: { mic?: MediaStreamTrack } } }).lancast.sources.mic);
      assert.equal(mixed, true, 'the microphone and the tab are mixed into one track');
      await b.uncheck('#screen-audio');
      await waitFor(() => toneLevel(v!), (db) => db < 15, 20_000, 'the tone to go');
      const before = await viewerCounters(v);
      await waitFor(() => viewerCounters(v!), (c) => c.audioBytes > before.audioBytes + 1_000, 10_000, 'the microphone to go on');
      await b.check('#screen-audio');
      await waitFor(() => toneLevel(v!), (db) => db > 30, 20_000, 'the tone back');
    } finally {
      await closeAll([b, shared, v]);
    }
  });

  test('keyboard only: Tab reaches the source buttons, an arrow key switches to the screen while live', async () => {
    const shared = await openSharedTab();
    const b = await broadcast('keys', 'autostart=1&mode=p2p&source=camera');
    let v: Page | undefined;
    try {
      await waitForState(b, 'live', 20_000);
      v = await watch('keys');
      await waitForPicture(v, 'camera');
      await b.bringToFront();
      await b.locator('body').focus();
      // Tab until the checked radio of the "Show" group has the focus (one Tab stop for the group).
      for (let i = 0; i < 20; i++) {
        await b.keyboard.press('Tab');
        if (await b.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name === 'source')) break;
      }
      assert.equal(await b.evaluate(() => (document.activeElement as HTMLInputElement).value), 'camera');
      assert.equal(await b.evaluate(() => document.activeElement!.closest('fieldset')!.querySelector('legend')!.textContent), 'Show');
      await b.keyboard.press('ArrowDown');
      await waitForPicture(v, 'screen', [1280, 720]);
      assert.match((await b.textContent('#source-status')) ?? '', /Showing your screen/);
    } finally {
      await closeAll([b, shared, v]);
    }
  });
});
