/**
 * The rooms bench's kernel floor (bench/rooms.ts `floorRoom`): a process that sends the room's
 * packets to N receivers through lancast's native fan-out alone. It must send every packet to every
 * receiver, and each receiver must get them, or the floor it reports is not the cost of that room's
 * sending. Real processes, real sockets on 127.0.0.1, the built native module.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { floorRoom } from '../../bench/rooms.js';
import { waitFor } from '../helpers/browser.js';

let floor: ReturnType<typeof floorRoom> | undefined;
after(async () => {
  await floor?.stop();
});

test('the floor sends each of the publisher-like packets to every receiver, and every receiver gets them', async () => {
  floor = floorRoom();
  await floor.crowd.grow(3);
  assert.equal(floor.crowd.size, 3);
  await waitFor(() => floor!.crowd.counts(), (c) => c.counts.length === 3 && c.counts.every((n) => n > 0), 10_000, 'every receiver receiving');
  const [a, r0] = [await floor.sending(), await floor.crowd.counts()];
  await sleep(2_000);
  const [b, r1] = [await floor.sending(), await floor.crowd.counts()];
  const made = b.packets - a.packets;
  // ~119 a second: an Opus-sized packet every 20 ms, 30 frames of 2-3 video packets.
  assert.ok(made > 100, `the sender made ${made} packets in 2 s`);
  assert.equal(b.sent - a.sent, 3 * made, 'each packet went to the 3 receivers');
  for (let i = 0; i < 3; i++) {
    const got = r1.counts[i] - r0.counts[i];
    // The counts are read a moment apart from the sender's: a few packets may be in flight.
    assert.ok(Math.abs(got - made) <= 12, `receiver ${i} got ${got} of ${made}`);
  }
});
