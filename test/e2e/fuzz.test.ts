/**
 * Hostile input while people are watching: thousands of malformed, truncated, oversized and
 * out-of-order messages at the WebSocket, and junk at WHIP and WHEP, while a real Chromium
 * broadcaster streams through the relay to a real viewer. Afterwards the server is up, its
 * memory has not run away, and the viewer's picture never stalled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Browser, Page } from 'playwright-core';
import { assertMediaFlowing, frameGaps, launchChromium, recordFrames, waitForState } from '../helpers/browser.js';
import { rssMiB } from '../helpers/proc.js';
import { roomInfo, startLancast, type Lancast } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

let server: Lancast;
let chromium: Browser;
let viewer: Page;

before(async () => {
  [server, chromium] = await Promise.all([startLancast({ args: ['--max-sockets-per-address', '200'] }), launchChromium()]);
  const b = await chromium.newPage();
  await b.goto(`${server.url}/broadcast/fuzzed?key=test-key&autostart=1&mode=relay`);
  await waitForState(b, 'live');
  viewer = await chromium.newPage();
  await viewer.goto(`${server.url}/watch/fuzzed`);
  await waitForState(viewer, 'live', 20_000);
  await recordFrames(viewer);
});

after(async () => {
  await chromium?.close();
  await server?.stop();
});

const TYPES = ['join', 'offer', 'answer', 'candidate', 'restart', 'leave', 'hangup', 'push_init', 'pull_init', 'pull_start', 'welcome', '__proto__', ''];

/** Messages shaped like the protocol's, with wrong, missing and hostile values. */
const shaped = fc.record(
  {
    type: fc.constantFrom(...TYPES),
    role: fc.constantFrom('viewer', 'broadcaster', 'admin', 1, null),
    room: fc.oneof(fc.constant('fuzzed'), fc.constant('main'), fc.string({ maxLength: 80 }), fc.constant('<img src=x onerror=alert(1)>')),
    // Never the real key: whoever holds it may take the room over, by design.
    key: fc.oneof(fc.constant('test-ke'), fc.constant('TEST-KEY'), fc.string()),
    to: fc.oneof(fc.constant('relay'), fc.string({ maxLength: 70 }), fc.integer()),
    cid: fc.string({ maxLength: 70 }),
    sdp: fc.oneof(fc.string({ maxLength: 300 }), fc.constant('v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n')),
    candidate: fc.oneof(fc.constant(null), fc.record({ candidate: fc.string({ maxLength: 200 }), sdpMLineIndex: fc.integer() })),
    id: fc.oneof(fc.string(), fc.integer()),
  },
  { requiredKeys: ['type'] },
).map((m) => JSON.stringify(m));

const frame = fc.oneof(
  { weight: 4, arbitrary: shaped },
  { weight: 2, arbitrary: shaped.chain((s) => fc.integer({ min: 0, max: s.length }).map((n) => s.slice(0, n))) },
  { weight: 2, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constant('x'.repeat(70 * 1024)) },
);

describe('fuzzing while a room streams', () => {
  test('thousands of hostile frames and HTTP requests: server up, memory bounded, picture never stalls', async (t) => {
    const rss0 = rssMiB(server.proc.pid!);
    let frames = 0;
    let requests = 0;
    const replies = new Map<string, number>();

    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 40 }), async (batch) => {
        const s = await TestSocket.open(server.wsUrl);
        for (const f of batch) {
          if (!s.open) break;
          s.ws.send(f);
          frames++;
        }
        await new Promise((r) => setTimeout(r, 10));
        for (const m of s.received) replies.set(String(m.code ?? m.type), (replies.get(String(m.code ?? m.type)) ?? 0) + 1);
        s.close();
      }),
      { numRuns: 400 },
    );

    const contentTypes = ['application/sdp', 'text/plain', 'application/json', '', 'application/sdp; charset=utf-8'];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/whip/fuzzed', '/whep/fuzzed', '/whip/other', '/whep/nobody', '/whip/%3Cx%3E', '/whip/fuzzed/abc'),
        fc.constantFrom('POST', 'DELETE', 'PATCH', 'OPTIONS', 'PUT'),
        fc.constantFrom(...contentTypes),
        fc.oneof(fc.constant(undefined), fc.constant('Bearer test-key'), fc.string({ maxLength: 40 })),
        fc.oneof(fc.string({ maxLength: 500 }), fc.constant('v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n'), fc.constant('v=0\r\n' + 'm=video 9 RTP/AVP 96\r\n'.repeat(40))),
        async (path, method, type, auth, body) => {
          const headers: Record<string, string> = {};
          if (type) headers['content-type'] = type;
          if (auth) headers.authorization = auth;
          const res = await fetch(`${server.url}${path}`, { method, headers, body: method === 'POST' || method === 'PATCH' || method === 'PUT' ? body : undefined });
          await res.arrayBuffer();
          requests++;
          replies.set(`http ${res.status}`, (replies.get(`http ${res.status}`) ?? 0) + 1);
          assert.ok(res.status < 500, `${method} ${path} -> ${res.status}`);
        },
      ),
      { numRuns: 300 },
    );

    await new Promise((r) => setTimeout(r, 1_500));
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    const rss1 = rssMiB(server.proc.pid!);
    const gaps = await frameGaps(viewer);
    t.diagnostic(`frames sent ${frames}, HTTP requests ${requests}; replies ${JSON.stringify(Object.fromEntries(replies))}`);
    t.diagnostic(`server RSS ${rss0.toFixed(0)} -> ${rss1.toFixed(0)} MiB; viewer ${gaps.frames} frames, longest gap ${gaps.longestGapMs} ms, last ${gaps.sinceLastMs} ms ago`);
    assert.ok(frames >= 2_000, `only ${frames} frames were tried`);
    assert.ok(rss1 - rss0 < 100, `server memory grew by ${(rss1 - rss0).toFixed(0)} MiB`);
    assert.ok(gaps.longestGapMs < 1_000, `the viewer stalled for ${gaps.longestGapMs} ms`);
    assert.ok(gaps.sinceLastMs < 1_000, `the viewer's last frame was ${gaps.sinceLastMs} ms ago`);
    await assertMediaFlowing(viewer);
    // The room is intact: one broadcaster, the viewer still counted.
    const room = await roomInfo(server.url, 'fuzzed');
    assert.equal(room?.live, true);
    assert.ok((room?.viewers ?? 0) >= 1);
  });
});
