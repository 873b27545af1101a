/** The relay's SDP lists host candidates only on the address lancast listens on. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onlyListenAddress } from '../../src/relay/ice.js';

const sdp = [
  'v=0',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'a=candidate:1 1 udp 2130706431 127.0.0.1 40001 typ host',
  'a=candidate:2 1 udp 2130706431 192.0.2.2 40001 typ host',
  'a=candidate:3 1 udp 1694498815 198.51.100.7 40001 typ srflx raddr 127.0.0.1 rport 40001',
  'a=candidate:4 1 udp 16777215 203.0.113.9 50000 typ relay raddr 198.51.100.7 rport 40001',
  'a=end-of-candidates',
  '',
].join('\r\n');

test('with --host naming one address, other interfaces\' host candidates are dropped; srflx and relay stay', () => {
  const out = onlyListenAddress(sdp, { host: '127.0.0.1', iceServers: [] });
  assert.match(out, /127\.0\.0\.1 40001 typ host/);
  assert.doesNotMatch(out, /192\.0\.2\.2/);
  assert.match(out, /typ srflx/);
  assert.match(out, /typ relay/);
  assert.match(out, /a=end-of-candidates\r\n$/);
});

test('listening on every address (0.0.0.0 or ::) keeps every candidate', () => {
  assert.equal(onlyListenAddress(sdp, { host: '0.0.0.0', iceServers: [] }), sdp);
  assert.equal(onlyListenAddress(sdp, { host: '::', iceServers: [] }), sdp);
});
