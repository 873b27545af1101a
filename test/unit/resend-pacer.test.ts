/**
 * The resend pacer both kinds of viewer share (issue 15): a packet resent a moment ago is not
 * resent again; resends take at most RESEND_SHARE of the viewer's budget, in short bursts, the
 * bucket filling again with time; refusals past STORM within a second say "ask for a keyframe",
 * once. Without a budget nothing is refused but the gap still holds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RESEND_GAP_MS, RESEND_SHARE, ResendPacer, STORM, type Resendable } from '../../src/relay/resend-pacer.js';

/** Packets of `bytes` each, all at hand; what was sent is listed in `sent`. */
function store(bytes = 100, missing: number[] = []) {
  const sent: number[] = [];
  const find = (seq: number): Resendable | undefined => (missing.includes(seq) ? undefined : { bytes, send: () => (sent.push(seq), true) });
  return { sent, find };
}
const seqs = (from: number, count: number) => Array.from({ length: count }, (_, i) => (from + i) & 0xffff);

test('a packet resent less than the gap ago is skipped and counted; after the gap it goes again', () => {
  const pacer = new ResendPacer();
  const { sent, find } = store();
  assert.deepEqual(pacer.resend([5, 6], 1_000, Infinity, find), { sent: 2, storm: false });
  assert.deepEqual(pacer.resend([5, 6, 7], 1_000 + RESEND_GAP_MS - 1, Infinity, find), { sent: 1, storm: false });
  assert.equal(pacer.skipped, 2);
  assert.deepEqual(pacer.resend([5], 1_000 + RESEND_GAP_MS, Infinity, find), { sent: 1, storm: false });
  assert.deepEqual(sent, [5, 6, 7, 5]);
  assert.equal(pacer.skipped, 2);
});

test('what is not at hand is neither sent nor counted as skipped; a send that fails is not remembered', () => {
  const pacer = new ResendPacer();
  const { sent, find } = store(100, [9]);
  assert.deepEqual(pacer.resend([9, 10], 0, Infinity, find), { sent: 1, storm: false });
  assert.equal(pacer.skipped, 0);
  let tries = 0;
  const failing = (): Resendable => ({ bytes: 100, send: () => (tries++, false) });
  assert.deepEqual(pacer.resend([11], 0, Infinity, failing), { sent: 0, storm: false });
  assert.deepEqual(pacer.resend([11], 1, Infinity, failing), { sent: 0, storm: false });
  assert.equal(tries, 2, 'not sent, so not held back by the gap');
  assert.deepEqual(sent, [10]);
});

test("resends take at most a share of the budget, in bursts, filling again with time; a storm of refusals is told once a second", () => {
  const pacer = new ResendPacer();
  const { sent, find } = store(100);
  // 160 kbit/s of budget: resends may take 40 kbit/s = 5 bytes/ms, bursts of 200 ms = 1000 bytes: 10 packets.
  const budget = 160_000;
  assert.equal(RESEND_SHARE * budget, 40_000);
  let t = 10_000;
  const first = pacer.resend(seqs(0, 10 + STORM), t, budget, find);
  assert.deepEqual(first, { sent: 10, storm: true }, `10 go; the ${STORM} refused are a storm`);
  assert.equal(pacer.skipped, STORM);
  // 100 ms later: 500 bytes more, 5 packets; the refusals this second are past STORM already: no second storm.
  t += 100;
  assert.deepEqual(pacer.resend(seqs(100, 30), t, budget, find), { sent: 5, storm: false });
  // A second on, the count starts again.
  t += 1_000;
  assert.deepEqual(pacer.resend(seqs(200, 10 + STORM), t, budget, find), { sent: 10, storm: true }, 'the bucket holds one burst at most');
  // A quiet link: a budget of Infinity refuses nothing.
  assert.deepEqual(pacer.resend(seqs(300, 200), t, Infinity, find), { sent: 200, storm: false });
  assert.equal(sent.length, 10 + 5 + 10 + 200);
});

test('the bucket starts full for a budget that appears after resends without one', () => {
  const pacer = new ResendPacer();
  const { find } = store(100);
  pacer.resend([1], 0, Infinity, find);
  assert.deepEqual(pacer.resend(seqs(10, 12), 5, 160_000, find), { sent: 10, storm: false });
});

test("a packet bigger than a slow link's whole burst still goes, and the debt it leaves holds back the next until paid", () => {
  const pacer = new ResendPacer();
  const { sent, find } = store(1_100);
  // 100 kbit/s of budget: resends may take 3.125 bytes/ms, bursts of 625 bytes, less than one 1,100-byte packet.
  const budget = 100_000;
  let t = 20_000;
  assert.deepEqual(pacer.resend([1, 2], t, budget, find), { sent: 1, storm: false }, 'one goes; the bucket is in debt');
  // 100 ms on: 312 bytes paid of a 475-byte debt, still in debt.
  t += 100;
  assert.deepEqual(pacer.resend([2], t, budget, find), { sent: 0, storm: false });
  // 200 ms on from the first: paid off (625 bytes of fill), the next goes.
  t += 100;
  assert.deepEqual(pacer.resend([2], t, budget, find), { sent: 1, storm: false });
  assert.deepEqual(sent, [1, 2]);
});
