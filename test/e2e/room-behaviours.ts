/**
 * What the foundation promises a room, in real Chromium with the fake camera and microphone,
 * end to end through the real lancast process. Run once per media path: `p2p.test.ts` and
 * `relay.test.ts` call `roomBehaviours()` with their mode, so both paths keep every promise.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  assertMediaFlowing,
  launchChromium,
  pageState,
  viewerCounters,
  waitFor,
  waitForState,
} from '../helpers/browser.js';
import { roomInfo, startLancast, type Lancast } from '../helpers/server.js';

export function roomBehaviours(mode: 'p2p' | 'relay'): void {
let server: Lancast;
let browser: Browser;
let context: BrowserContext;

before(async () => {
  [server, browser] = await Promise.all([startLancast(), launchChromium()]);
  context = await browser.newContext();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function broadcast(room: string, query = `key=test-key&autostart=1`): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${server.url}/broadcast/${room}?${query}&mode=${mode}`);
  return page;
}

async function watch(room: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${server.url}/watch/${room}`);
  return page;
}

/** Viewers the server counts in a room. */
async function roomViewers(room: string): Promise<number | undefined> {
  return (await roomInfo(server.url, room))?.viewers;
}

/** The broadcaster page's peer connections, by state. */
function broadcasterConnections(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const b = (window as unknown as { lancast?: { broadcaster: { connections: Map<string, { pc: RTCPeerConnection }> } } }).lancast?.broadcaster;
    return [...(b?.connections.values() ?? [])].map((c) => c.pc.connectionState);
  });
}

async function closeAll(pages: Page[]): Promise<void> {
  await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
}

describe(`${mode} rooms in Chromium`, () => {
  test('one broadcaster and three viewers: every viewer decodes video and receives audio', async () => {
    const b = await broadcast('three');
    await waitForState(b, 'live');
    const viewers = await Promise.all([watch('three'), watch('three'), watch('three')]);
    try {
      for (const v of viewers) await waitForState(v, 'live', 20_000);
      const results = await Promise.all(viewers.map((v) => assertMediaFlowing(v)));
      for (const { second } of results) {
        assert.ok(second.width >= 320, `video is ${second.width} wide`);
        assert.ok(second.audioSamples > 0);
      }
      assert.equal(await b.textContent('#viewer-count'), '3 watching');
      if (mode === 'p2p') {
        assert.deepEqual(await broadcasterConnections(b), ['connected', 'connected', 'connected']);
      } else {
        // One upload to the relay, however many viewers.
        assert.deepEqual(await broadcasterConnections(b), []);
        assert.equal(await b.evaluate(() => (window as unknown as { lancast: { broadcaster: { publishing?: { pc: RTCPeerConnection } } } }).lancast.broadcaster.publishing?.pc.connectionState), 'connected');
        assert.match((await b.textContent('#mode')) ?? '', /relay/);
      }
    } finally {
      await closeAll([b, ...viewers]);
    }
  });

  test('a viewer who arrives before the broadcaster waits, then plays when it goes live', async () => {
    const v = await watch('early');
    let b: Page | undefined;
    try {
      await waitForState(v, 'waiting');
      assert.match((await v.textContent('#overlay')) ?? '', /Waiting for the broadcaster/);
      b = await broadcast('early');
      await waitForState(v, 'live', 20_000);
      await assertMediaFlowing(v);
    } finally {
      await closeAll([v, ...(b ? [b] : [])]);
    }
  });

  test('a viewer who joins late, long after the broadcast started, still gets picture and sound', async () => {
    const b = await broadcast('late');
    const first = await watch('late');
    let late: Page | undefined;
    try {
      await waitForState(first, 'live', 20_000);
      await new Promise((r) => setTimeout(r, 4_000));
      late = await watch('late');
      await waitForState(late, 'live', 20_000);
      await assertMediaFlowing(late);
    } finally {
      await closeAll([b, first, ...(late ? [late] : [])]);
    }
  });

  test('a viewer who leaves has its connection closed within 5 s; the others play on', async () => {
    const b = await broadcast('leaving');
    const stay = await watch('leaving');
    const go = await watch('leaving');
    try {
      await waitForState(stay, 'live', 20_000);
      await waitForState(go, 'live', 20_000);
      if (mode === 'p2p') await waitFor(() => broadcasterConnections(b), (s) => s.length === 2, 10_000, 'two connections');
      const left = Date.now();
      await go.close();
      if (mode === 'p2p') {
        await waitFor(() => broadcasterConnections(b), (s) => s.length === 1, 5_000, 'the broadcaster to drop the leaver');
      } else {
        await waitFor(() => roomViewers('leaving'), (n) => n === 1, 5_000, 'the relay to drop the leaver');
      }
      assert.ok(Date.now() - left < 5_000);
      await waitFor(() => b.textContent('#viewer-count'), (t) => t === '1 watching', 5_000, 'viewer count 1');
      await assertMediaFlowing(stay);
    } finally {
      await closeAll([b, stay, go]);
    }
  });

  test('when the broadcaster stops, viewers show offline; when it reloads, they resume by themselves', async () => {
    const b = await broadcast('reload');
    const v = await watch('reload');
    try {
      await waitForState(v, 'live', 20_000);
      await b.click('#stop');
      await waitForState(v, 'offline', 10_000);
      assert.match((await v.textContent('#overlay')) ?? '', /ended/);
      const before = await viewerCounters(v);
      assert.equal(before.framesDecoded, 0, 'no connection is left playing');

      await b.reload();
      await waitForState(b, 'live');
      await waitForState(v, 'live', 20_000);
      await assertMediaFlowing(v);
    } finally {
      await closeAll([b, v]);
    }
  });

  test('a broadcaster reloading its page mid-stream: viewers come back without a click', async () => {
    const b = await broadcast('hard-reload');
    const v = await watch('hard-reload');
    try {
      await waitForState(v, 'live', 20_000);
      await b.reload();
      await waitFor(() => pageState(v), (s) => s !== 'live', 10_000, 'the viewer to notice');
      await waitForState(v, 'live', 20_000);
      await assertMediaFlowing(v);
    } finally {
      await closeAll([b, v]);
    }
  });

  test('a wrong publish key is refused with a clear message on the page, and nobody goes live', async () => {
    const v = await watch('guarded');
    const b = await broadcast('guarded', 'key=not-the-key&autostart=1');
    try {
      await waitForState(b, 'error');
      assert.match((await b.textContent('#error')) ?? '', /Wrong publish key/);
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(await pageState(v), 'waiting');
      assert.equal((await roomInfo(server.url, 'guarded'))?.live, false);

      // Typing the right key and starting again works.
      await b.fill('#key', 'test-key');
      await b.click('#start');
      await waitForState(b, 'live');
      await waitForState(v, 'live', 20_000);
    } finally {
      await closeAll([b, v]);
    }
  });

  test('two rooms are isolated: each viewer sees its own room and counts do not mix', async () => {
    const a = await broadcast('room-a');
    const va = await watch('room-a');
    const vb = await watch('room-b');
    let b: Page | undefined;
    try {
      await waitForState(va, 'live', 20_000);
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(await pageState(vb), 'waiting', 'room-b has no broadcaster');
      assert.equal((await viewerCounters(vb)).framesDecoded, 0);

      b = await broadcast('room-b');
      await waitForState(vb, 'live', 20_000);
      await Promise.all([assertMediaFlowing(vb), assertMediaFlowing(va)]);
      assert.equal(await a.textContent('#viewer-count'), '1 watching');
      assert.equal(await b.textContent('#viewer-count'), '1 watching');
      assert.equal(await roomViewers('room-a'), 1);
      assert.equal(await roomViewers('room-b'), 1);
    } finally {
      await closeAll([a, va, vb, ...(b ? [b] : [])]);
    }
  });

  test('the lobby lists live rooms with their viewer counts', async () => {
    const b = await broadcast('lobby-room');
    const v = await watch('lobby-room');
    const lobby = await context.newPage();
    try {
      await waitForState(v, 'live', 20_000);
      await lobby.goto(server.url);
      const item = lobby.locator('#rooms li', { hasText: 'lobby-room' });
      await item.waitFor({ timeout: 10_000 });
      assert.match((await item.textContent()) ?? '', new RegExp(`1 watching · ${mode}`));
    } finally {
      await closeAll([b, v, lobby]);
    }
  });
});

describe(`a server restart under a live ${mode} room`, () => {
  test('broadcaster and viewer reconnect by themselves and the room is live again', async () => {
    const first = await startLancast();
    const { port, dataDir } = first;
    // The file's Chromium, in a context of its own.
    const ctx = await browser.newContext();
    let second: Lancast | undefined;
    try {
      const b = await ctx.newPage();
      await b.goto(`${first.url}/broadcast/main?key=test-key&autostart=1&mode=${mode}`);
      const v = await ctx.newPage();
      await v.goto(`${first.url}/watch/main`);
      await waitForState(v, 'live', 20_000);

      assert.equal(await first.stop(), 0);
      await waitFor(() => pageState(v), (s) => s !== 'live', 10_000, 'the viewer to be told the stream ended');
      assert.equal(await pageState(b), 'reconnecting');

      second = await startLancast({ port, dataDir });
      const back = Date.now();
      await waitForState(b, 'live', 15_000);
      await waitForState(v, 'live', 15_000);
      const recovery = Date.now() - back;
      await assertMediaFlowing(v);
      assert.ok(recovery < 10_000, `live again ${recovery} ms after the server came back`);
    } finally {
      await ctx.close();
      await second?.stop();
      await first.stop();
    }
  });
});
}
