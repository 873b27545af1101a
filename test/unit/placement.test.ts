/** Where viewers' legs go: the main thread up to its share, then the workers, which start a little before. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LegPlacement, mainLegsFromEnv } from '../../src/relay/placement.js';

test('legs stay on the main thread up to its share, then go to workers; a leg that leaves frees its place', () => {
  const p = new LegPlacement(4);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => p.takeMain()), [true, true, true, true, false, false]);
  assert.equal(p.onMain, 4);
  p.released();
  assert.equal(p.takeMain(), true);
  assert.equal(p.takeMain(), false);
});

test('the workers are started once the main thread is three quarters full', () => {
  const p = new LegPlacement(8);
  const soon: boolean[] = [];
  for (let i = 0; i < 8; i++) {
    p.takeMain();
    soon.push(p.workersSoon);
  }
  assert.deepEqual(soon, [false, false, false, false, false, true, true, true]);
});

test('a share of 0 puts every leg on a worker', () => {
  const p = new LegPlacement(0);
  assert.equal(p.takeMain(), false);
  assert.equal(p.workersSoon, true);
});

test('LANCAST_RELAY_MAIN_LEGS: a whole number, or a clear error', () => {
  assert.equal(mainLegsFromEnv(undefined), undefined);
  assert.equal(mainLegsFromEnv(''), undefined);
  assert.equal(mainLegsFromEnv('0'), 0);
  assert.equal(mainLegsFromEnv('25'), 25);
  assert.throws(() => mainLegsFromEnv('-1'), /LANCAST_RELAY_MAIN_LEGS must be a whole number of legs, not "-1"/);
  assert.throws(() => mainLegsFromEnv('many'), /not "many"/);
});
