/**
 * Choosing the forwarding path: the native addon when it was built and loads, else the TypeScript
 * path with the reason in the logs. A missing addon would silently cost about 3x CPU per packet.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { egressImplementation, loadNative, NATIVE_FILE, socketFd } from '../../src/relay/native.js';

test('the native addon is built and loaded', () => {
  // CI builds with a C compiler (`npm run build`): the relay must not be on its slow path there.
  assert.equal(egressImplementation.name, 'native', egressImplementation.reason);
  assert.equal(typeof loadNative({}).module?.fanout, 'function');
});

test('LANCAST_NATIVE=0 chooses the TypeScript path, and says so', () => {
  assert.deepEqual(loadNative({ LANCAST_NATIVE: '0' }), { module: undefined, reason: 'LANCAST_NATIVE=0' });
  assert.ok(loadNative({ LANCAST_NATIVE: '1' }, NATIVE_FILE).module, 'any other value keeps the addon');
});

test('an addon that was not built, or does not load, falls back with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lancast-native-'));
  try {
    const missing = loadNative({}, join(dir, 'lancast.node'));
    assert.equal(missing.module, undefined);
    assert.match(missing.reason, /lancast\.node was not built/);
    const broken = join(dir, 'broken.node');
    writeFileSync(broken, 'not a shared object');
    const failed = loadNative({}, broken);
    assert.equal(failed.module, undefined);
    assert.match(failed.reason, /broken\.node/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a bound socket's descriptor is found; an unbound socket has none", async () => {
  const socket = createSocket('udp4');
  assert.equal(socketFd(socket), undefined);
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const fd = socketFd(socket);
  assert.ok(typeof fd === 'number' && fd > 2, `descriptor ${fd}`);
  await new Promise<void>((r) => socket.close(r));
});
