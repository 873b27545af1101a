/**
 * WHIP and WHEP from a browser page on another origin (a third-party player): Chromium publishes
 * and plays through fetch, and ends both sessions with DELETE, which only works when lancast
 * answers the session URL's CORS preflight.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, waitFor } from '../helpers/browser.js';
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

type Result = { status?: number; location?: string; body?: string; error?: string };

async function openSite(): Promise<Page> {
  const page = await chromium.newPage();
  await page.goto(siteUrl);
  return page;
}

describe('a WHIP/WHEP page on another origin', () => {
  test('publishes and plays, and ends both sessions with DELETE; the server lets go at once', async () => {
    const publisher = await openSite();
    const player = await openSite();
    try {
      const published = (await publisher.evaluate<Result>(`publish(${JSON.stringify(`${server.url}/whip/elsewhere`)}, 'test-key')`));
      assert.equal(published.status, 201, JSON.stringify(published));
      assert.match(published.location ?? '', /^http:\/\/127\.0\.0\.1:\d+\/whip\/elsewhere\/[\w-]+$/);

      const played = (await player.evaluate<Result>(`play(${JSON.stringify(`${server.url}/whep/elsewhere`)})`));
      assert.equal(played.status, 201, JSON.stringify(played));
      await waitFor(() => player.evaluate<number>('videoWidth()'), (w) => w > 0, 20_000, 'a decoded frame in the player');
      assert.equal((await roomInfo(server.url, 'elsewhere'))?.viewers, 1);

      // The player's connection stays open: only its DELETE can end its relay leg (its RTCP keeps
      // the relay's silence timeout from doing it).
      const stopped = (await player.evaluate<Result>('hangUp()'));
      assert.deepEqual(stopped, { status: 200 });
      await waitFor(async () => (await roomInfo(server.url, 'elsewhere'))?.viewers, (n) => n === 0, 5_000, 'the player to leave the room');

      const unpublished = (await publisher.evaluate<Result>('hangUp()'));
      assert.deepEqual(unpublished, { status: 200 });
      await waitFor(async () => (await roomInfo(server.url, 'elsewhere'))?.live ?? false, (live) => !live, 5_000, 'the room to go offline');

      // A second DELETE is a 404 the page can read, not a network error.
      assert.deepEqual(await player.evaluate('hangUp()'), { status: 404 });
    } finally {
      await Promise.all([publisher.close(), player.close()]);
    }
  });

  test('every WHIP/WHEP URL answers preflight, and every answer (errors too) carries CORS headers', async () => {
    const origin = { origin: siteUrl.slice(0, -1) };
    const preflight = { ...origin, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization, if-match' };
    for (const path of ['/whip/r', '/whep/r', '/whip/r/some-id', '/whep/r/some-id']) {
      const res = await fetch(`${server.url}${path}`, { method: 'OPTIONS', headers: preflight });
      assert.equal(res.status, 204, `OPTIONS ${path}`);
      assert.equal(res.headers.get('access-control-allow-origin'), '*', `OPTIONS ${path}`);
      assert.match(res.headers.get('access-control-allow-methods') ?? '', /DELETE/, `OPTIONS ${path}`);
      assert.match(res.headers.get('access-control-allow-methods') ?? '', /PATCH/, `OPTIONS ${path}`);
      for (const h of ['Authorization', 'Content-Type', 'If-Match']) {
        assert.match(res.headers.get('access-control-allow-headers') ?? '', new RegExp(h), `OPTIONS ${path}: ${h}`);
      }
      assert.match(res.headers.get('access-control-expose-headers') ?? '', /Location/, `OPTIONS ${path}`);
    }
    const errors: [string, string, number][] = [
      ['DELETE', '/whep/r/nobody', 404],
      ['DELETE', '/whip/r/nobody', 404],
      ['PATCH', '/whep/r/nobody', 405],
      ['PATCH', '/whip/r/nobody', 405],
      ['GET', '/whep/r/nobody', 405],
      ['PUT', '/whip/r', 405],
      ['POST', '/whep/not-live', 415],
    ];
    for (const [method, path, status] of errors) {
      const res = await fetch(`${server.url}${path}`, { method, headers: origin, body: method === 'GET' ? undefined : 'x' });
      assert.equal(res.status, status, `${method} ${path}`);
      assert.equal(res.headers.get('access-control-allow-origin'), '*', `${method} ${path}`);
      if (status === 405) assert.match(res.headers.get('allow') ?? '', /OPTIONS/, `${method} ${path}`);
    }
  });
});
