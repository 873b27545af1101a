/**
 * The load test from the hardening issue, run as a test for its behaviour (the benchmark records
 * its figures): 2,000 viewer sockets on one room, joining and leaving in waves, every one told
 * when the broadcast goes offline and live again, no errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sockets } from '../../bench/sockets.js';

test('2,000 viewers on one room all hear a status change, through waves of joins and leaves', async (t) => {
  const r = await sockets(2_000);
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.errors, 0);
  assert.equal(r.joinWaveMs.length, 8);
  assert.equal(r.heardOffline, 2_000, 'every viewer is told the broadcast went offline');
  assert.equal(r.heardLive, 2_000, 'every viewer is told it is live again');
  assert.equal(r.rejoinedTold, 1_000, 'every viewer that left and came back is told the room status');
});
