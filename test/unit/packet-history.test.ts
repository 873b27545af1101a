/** The publisher's packet history: what it keeps, what counts as newest, and replaying a span. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HISTORY_SIZE, newer, PacketHistory } from '../../src/relay/packet-history.js';

const payloadOf = (seq: number) => Uint8Array.of(seq >> 8, seq & 0xff);

/** Packets `from`, `from`+1, ... (mod 2^16), timestamps 100 per packet, arriving 1 ms apart. */
function fill(h: PacketHistory, from: number, count: number, skip: number[] = []): void {
  for (let n = 0; n < count; n++) {
    const seq = (from + n) & 0xffff;
    if (!skip.includes(seq)) h.put(seq, 100 * n, n % 3 === 2, payloadOf(seq), 1_000 + n);
  }
}

function replayed(h: PacketHistory, from: number): number[] {
  const seqs: number[] = [];
  h.replayFrom(from, (payload, _marker, seq) => {
    assert.deepEqual(payload, payloadOf(seq));
    seqs.push(seq);
    return true;
  });
  return seqs;
}

test('16-bit sequence order, across the wrap', () => {
  assert.equal(newer(2, 1), true);
  assert.equal(newer(1, 2), false);
  assert.equal(newer(5, 5), false);
  assert.equal(newer(0, 65535), true);
  assert.equal(newer(65535, 0), false);
  assert.equal(newer(0x8000, 0), false, 'half the space away is not newer');
});

test('a packet is found by its sequence number until the ring comes round to its slot', () => {
  const h = new PacketHistory();
  fill(h, 65000, HISTORY_SIZE);
  assert.deepEqual(h.get(65000), { seq: 65000, ts: 0, marker: false, payload: payloadOf(65000) });
  assert.deepEqual(h.get(65002), { seq: 65002, ts: 200, marker: true, payload: payloadOf(65002) });
  assert.equal(h.get(64999), undefined, 'never held');
  h.put((65000 + HISTORY_SIZE) & 0xffff, 0, false, payloadOf(0), 0);
  assert.equal(h.get(65000), undefined, 'overwritten by the packet 512 later');
  assert.ok(h.get(65001));
});

test('the newest packet: a late retransmission is kept but does not move it back', () => {
  const h = new PacketHistory();
  assert.equal(h.newestSeq, -1);
  assert.equal(h.put(65535, 9_000, false, payloadOf(1), 50), true);
  assert.equal(h.put(0, 9_100, false, payloadOf(2), 60), true, 'across the wrap');
  assert.equal(h.put(65534, 8_900, false, payloadOf(3), 70), false, 'late');
  assert.deepEqual([h.newestSeq, h.newestTs, h.newestAtMs], [0, 9_100, 60]);
  assert.ok(h.get(65534), 'the late packet is still kept for NACKs');
  h.clear();
  assert.equal(h.newestSeq, -1);
  assert.equal(h.get(0), undefined);
});

test('replay from a sequence number to the newest, across the wrap, without the packets never received', () => {
  const h = new PacketHistory();
  fill(h, 65530, 12, [65534, 1]);
  assert.deepEqual(replayed(h, 65532), [65532, 65533, 65535, 0, 2, 3, 4, 5]);
  assert.deepEqual(replayed(h, 5), [5]);
});

test('a packet lost on the second time round the ring is skipped, not replaced by the one 512 before it', () => {
  const h = new PacketHistory();
  fill(h, 0, HISTORY_SIZE + 10, [HISTORY_SIZE + 3]);
  assert.equal(h.get(HISTORY_SIZE + 3), undefined);
  assert.equal(h.get(3)?.seq, 3, 'its slot still holds the packet from the round before');
  assert.deepEqual(replayed(h, HISTORY_SIZE), [0, 1, 2, 4, 5, 6, 7, 8, 9].map((n) => HISTORY_SIZE + n));
});

test('no replay when its start is gone, too far back, or nothing arrived', () => {
  const h = new PacketHistory();
  assert.deepEqual(replayed(h, 0), []);
  fill(h, 100, 10, [103]);
  assert.deepEqual(replayed(h, 103), [], 'the start never arrived');
  fill(h, 110, HISTORY_SIZE);
  assert.deepEqual(replayed(h, 109), [], 'more than the history holds');
  assert.equal(replayed(h, 110).length, HISTORY_SIZE);
});

test('replay counts only the packets its sender took', () => {
  const h = new PacketHistory();
  fill(h, 0, 10);
  assert.equal(h.replayFrom(0, (_p, _m, seq) => seq % 2 === 0), 5);
});
