/**
 * WHIP and WHEP against the real server, with libwebrtc (@roamhq/wrtc) as the other stack: every
 * status code a publisher or player can meet, and media from a WHIP publisher to a WHEP player.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers/browser.js';
import { roomInfo, startLancast, type Lancast } from '../helpers/server.js';
import { whepPlay, whipPublish } from '../helpers/wrtc.js';

let server: Lancast;

before(async () => {
  server = await startLancast();
});

after(async () => {
  await server?.stop();
});

const OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n';

async function post(path: string, body: string, headers: Record<string, string>): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', body, headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe('WHIP ingest', () => {
  test('a wrong or missing publish key is 401 with a Bearer challenge', async () => {
    for (const auth of [{ authorization: 'Bearer wrong' }, {}] as Record<string, string>[]) {
      const res = await post('/whip/codes', OFFER, { 'content-type': 'application/sdp', ...auth });
      assert.equal(res.status, 401);
      assert.match(res.text, /publish key/);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
  });

  test('a body that is not application/sdp is 415 and says what is expected', async () => {
    const res = await post('/whip/codes', OFFER, { 'content-type': 'application/json', authorization: 'Bearer test-key' });
    assert.equal(res.status, 415);
    assert.match(res.text, /application\/sdp/);
  });

  test('an SDP that cannot be used is 400 with the reason', async () => {
    const garbage = await post('/whip/codes', 'hello', { 'content-type': 'application/sdp', authorization: 'Bearer test-key' });
    assert.equal(garbage.status, 400);
    assert.match(garbage.text, /not an SDP offer/);
    const noMedia = await post('/whip/codes', 'v=0\r\ns=-\r\n', { 'content-type': 'application/sdp', authorization: 'Bearer test-key' });
    assert.equal(noMedia.status, 400);
    const unusable = await post('/whip/codes', OFFER, { 'content-type': 'application/sdp', authorization: 'Bearer test-key' });
    assert.equal(unusable.status, 400, unusable.text);
    assert.match(unusable.text, /cannot use this offer/);
    // A refused publish leaves no room behind.
    assert.equal(await roomInfo(server.url, 'codes'), undefined);
  });

  test('a bad room name is 400', async () => {
    const res = await post('/whip/%3Cscript%3E', OFFER, { 'content-type': 'application/sdp', authorization: 'Bearer test-key' });
    assert.equal(res.status, 400);
  });

  test('a second publisher is 409; DELETE ends the first and frees the room', async () => {
    const first = await whipPublish(server.url, 'busy', 'test-key');
    try {
      assert.equal(first.status, 201);
      assert.match(first.location ?? '', /^\/whip\/busy\/[\w-]+$/);
      const second = await whipPublish(server.url, 'busy', 'test-key');
      assert.equal(second.status, 409);
      assert.match(second.body, /already has a broadcaster/);
      second.pc.close();

      assert.equal(await first.stop(), 200);
      const again = await whipPublish(server.url, 'busy', 'test-key');
      assert.equal(again.status, 201);
      await again.stop();
    } finally {
      await first.stop().catch(() => undefined);
    }
  });

  test('the answer offers host candidates only on the address lancast listens on (--host 127.0.0.1)', async () => {
    const pub = await whipPublish(server.url, 'candidates', 'test-key');
    try {
      assert.equal(pub.status, 201, pub.body);
      const hosts = [...pub.body.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ host/gm)].map((m) => m[1]);
      assert.ok(hosts.length > 0, pub.body);
      assert.deepEqual([...new Set(hosts)], ['127.0.0.1']);
    } finally {
      await pub.stop();
    }
  });

  test('DELETE of an unknown session is 404, and PATCH (trickle) is 405', async () => {
    assert.equal((await fetch(`${server.url}/whip/busy/nope`, { method: 'DELETE' })).status, 404);
    assert.equal((await fetch(`${server.url}/whip/busy/nope`, { method: 'PATCH', body: 'x', headers: { 'content-type': 'application/trickle-ice-sdpfrag' } })).status, 405);
  });

  test('OPTIONS answers CORS preflight with Accept-Post', async () => {
    const res = await fetch(`${server.url}/whip/any`, { method: 'OPTIONS' });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('accept-post'), 'application/sdp');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
  });
});

describe('WHEP playback', () => {
  test('a room that is not live is 404', async () => {
    const res = await post('/whep/nobody', OFFER, { 'content-type': 'application/sdp' });
    assert.equal(res.status, 404);
    assert.match(res.text, /not live/);
  });

  test('415 and 400 like WHIP', async () => {
    assert.equal((await post('/whep/nobody', OFFER, { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post('/whep/nobody', 'nonsense', { 'content-type': 'application/sdp' })).status, 400);
  });

  test('a libwebrtc WHIP publisher is played by a libwebrtc WHEP player: frames decode, audio flows', async () => {
    const pub = await whipPublish(server.url, 'interop', 'test-key');
    assert.equal(pub.status, 201, pub.body);
    const player = await whepPlay(server.url, 'interop');
    try {
      assert.equal(player.status, 201, player.body);
      assert.match(player.location ?? '', /^\/whep\/interop\/[\w-]+$/);
      const first = await waitFor(async () => player.frames(), (f) => f.count > 10, 10_000, 'decoded frames');
      assert.equal(first.width, 640);
      assert.equal(first.height, 480);
      const audio = await waitFor(() => player.audioBytes(), (b) => b > 1_000, 10_000, 'audio bytes');
      await new Promise((r) => setTimeout(r, 1_000));
      assert.ok(player.frames().count > first.count);
      assert.ok((await player.audioBytes()) > audio);

      const room = await roomInfo(server.url, 'interop');
      assert.equal(room?.mode, 'relay');
      assert.equal(room?.viewers, 1);

      assert.equal(await player.stop(), 200);
      assert.equal((await fetch(`${server.url}${player.location}`, { method: 'DELETE' })).status, 404);
    } finally {
      await player.stop().catch(() => undefined);
      await pub.stop();
    }
  });
});
