/**
 * `--legacy`: the seed's own push page (as the blog post prints it) and the pull page its protocol
 * implies, unchanged, streaming through lancast in room `main`, in Chromium.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { launchChromium, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import { roomInfo, startLancast, type Lancast } from '../helpers/server.js';

const FIXTURES = new URL('../fixtures/', import.meta.url);

let lancast: Lancast;
let pages: Server;
let pagesUrl: string;
let chromium: Browser;

/**
 * Serves the seed pages. The files stay verbatim; as the seed itself says to, the socket address
 * `127.0.0.1:1990` is replaced by where lancast listens in this test.
 */
async function servePages(port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    const name = (req.url ?? '/').slice(1);
    if (!/^seed-(push|pull)\.html$/.test(name)) return res.writeHead(404).end();
    const html = (await readFile(new URL(name, FIXTURES), 'utf8')).replaceAll('127.0.0.1:1990', `127.0.0.1:${port}`);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

before(async () => {
  [lancast, chromium] = await Promise.all([startLancast({ args: ['--legacy'] }), launchChromium()]);
  pages = await servePages(lancast.port);
  pagesUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
});

after(async () => {
  await chromium?.close();
  await new Promise((r) => pages?.close(r));
  await lancast?.stop();
});

/** The seed pull page's decoded frames, from its global RTCPeerConnection. */
async function pullFrames(page: Page): Promise<{ frames: number; width: number }> {
  return (await page.evaluate<{ frames: number; width: number }>(`(async () => {
    const pc = window.pullRtcCon;
    const video = document.getElementById('webrtcVideo');
    let frames = 0;
    if (pc) (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded || 0; });
    return { frames, width: video.videoWidth };
  })()`));
}

describe('the seed pages with --legacy', () => {
  test('the seed push page streams to three seed pull pages that ask at the same moment', async () => {
    const push = await chromium.newPage();
    await push.goto(`${pagesUrl}/seed-push.html`);
    await push.waitForFunction('document.getElementById("webrtcVideo").videoWidth > 0');
    const pulls = await Promise.all([1, 2, 3].map(async () => {
      const p = await chromium.newPage();
      await p.goto(`${pagesUrl}/seed-pull.html`);
      return p;
    }));
    try {
      // Let every pull page's socket open, then click all three buttons together.
      await Promise.all(pulls.map((p) => p.waitForFunction('true')));
      await new Promise((r) => setTimeout(r, 500));
      await Promise.all(pulls.map((p) => p.click('#pullBtn')));
      // The three pages side by side: each decodes, and a second later has decoded more.
      await Promise.all(pulls.map(async (p) => {
        const first = await waitFor(() => pullFrames(p), (s) => s.frames > 0 && s.width > 0, 20_000, 'a seed pull page to decode');
        await new Promise((r) => setTimeout(r, 1_000));
        const second = await pullFrames(p);
        assert.ok(second.frames > first.frames, `pull page stalled: ${JSON.stringify({ first, second })}`);
      }));
      const main = await roomInfo(lancast.url, 'main');
      assert.equal(main?.live, true);
      assert.equal(main?.viewers, 3);
    } finally {
      await Promise.all([push, ...pulls].map((p) => p.close()));
    }
  });

  test("lancast's watch page plays the seed push page too", async () => {
    const push = await chromium.newPage();
    await push.goto(`${pagesUrl}/seed-push.html`);
    await push.waitForFunction('document.getElementById("webrtcVideo").videoWidth > 0');
    const watch = await chromium.newPage();
    try {
      await watch.goto(`${lancast.url}/watch/main`);
      await waitForState(watch, 'live', 20_000);
      // The seed pusher sends video only: frames must flow; there is no audio to check.
      const first = await waitFor(() => viewerCounters(watch), (c) => c.framesDecoded > 0 && c.width > 0, 10_000, 'frames');
      await new Promise((r) => setTimeout(r, 1_000));
      assert.ok((await viewerCounters(watch)).framesDecoded > first.framesDecoded);
    } finally {
      await Promise.all([push.close(), watch.close()]);
    }
  });

  test('without --legacy, the seed opening is refused with a code and the socket closes', async () => {
    const plain = await startLancast();
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${plain.port}/ws`);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const reply = new Promise<{ code: string }>((resolve) => ws.once('message', (d) => resolve(JSON.parse((d as Buffer).toString()) as { code: string })));
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      ws.send(JSON.stringify({ type: 'push_init' }));
      assert.equal((await reply).code, 'legacy-disabled');
      assert.equal(await closed, 4003);
      // And a socket on another path is not upgraded at all.
      const other = new WebSocket(`ws://127.0.0.1:${plain.port}/`);
      const error = await new Promise<string>((resolve) => other.once('error', (e) => resolve(e.message)));
      assert.match(error, /404/);
    } finally {
      await plain.stop();
    }
  });
});
