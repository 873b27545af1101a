import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { enlargeReceiveBuffers, RECEIVE_BUFFER_BYTES, receiveBufferShortfall } from '../../src/relay/receive-buffer.js';

async function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

test("each socket asks for the buffer; the kernel's grant (twice the ask, up to twice rmem_max) comes back", async () => {
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const sockets = [await bound(), await bound()];
  try {
    const before = sockets[0].getRecvBufferSize();
    const buffer = enlargeReceiveBuffers(sockets);
    assert.deepEqual(buffer, { asked: RECEIVE_BUFFER_BYTES, got: 2 * Math.min(RECEIVE_BUFFER_BYTES, rmemMax) });
    for (const s of sockets) assert.equal(s.getRecvBufferSize(), buffer.got);
    assert.ok(buffer.got > before, `larger than the default (${before})`);
  } finally {
    for (const s of sockets) s.close();
  }
});

test('a socket closed meanwhile is passed over; no socket, no buffer', async () => {
  const open = await bound();
  const closed = await bound();
  closed.close();
  try {
    assert.equal(enlargeReceiveBuffers([closed]), undefined);
    assert.equal(enlargeReceiveBuffers([closed, open], 65_536)?.got, open.getRecvBufferSize());
    assert.equal(enlargeReceiveBuffers([]), undefined);
  } finally {
    open.close();
  }
});

test('a grant below the ask is told with the limit, what it costs and the sysctl that lifts it', () => {
  assert.equal(receiveBufferShortfall({ asked: 2_097_152, got: 4_194_304 }), undefined);
  const told = receiveBufferShortfall({ asked: 2_097_152, got: 425_984 });
  assert.ok(told);
  assert.match(told, /limits UDP receive buffers to 208 KiB \(net\.core\.rmem_max\)/);
  assert.match(told, /more than about 184 packets/);
  assert.match(told, /sudo sysctl -w net\.core\.rmem_max=2097152$/);
});
