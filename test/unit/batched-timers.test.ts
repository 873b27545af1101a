/**
 * The relay's batched timers: a job runs on its own timer when no media batch comes, inside the
 * batch's turn when one comes while it is due (and then not again on the timer), at its own
 * interval either way; a stopped job does not run again, and one job that throws does not stop
 * the others.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { every, runDue } from '../../src/relay/batched-timers.js';

/** Waits until `done()`, or `ms` have passed. */
async function until(done: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!done() && performance.now() < end) await sleep(10);
}

test('a job runs on its own timer, every interval and never early, when no batch comes', async () => {
  const runs: number[] = [];
  const started = performance.now();
  const job = every(100, () => runs.push(performance.now() - started), 50);
  await until(() => runs.length >= 5);
  job.stop();
  assert.equal(runs.length, 5, 'five runs did not come');
  // Due at 100, 200, ... 500: none before it was due.
  runs.forEach((at, i) => assert.ok(at >= (i + 1) * 100 - 1, `run ${i + 1} at ${Math.round(at)} ms, before it was due`));
  await sleep(300);
  assert.equal(runs.length, 5, 'a stopped job ran again');
});

test('a due job runs in the batch that comes within its slack, and its timer moves on to the next', async () => {
  const runs: { at: number; inBatch: boolean }[] = [];
  let inBatch = false;
  const started = performance.now();
  // Due at 1000, at the latest by 3000 (its timer); run in a batch at ~1100: next due at 2000, by 4000.
  const job = every(1_000, () => runs.push({ at: performance.now() - started, inBatch }), 2_000);
  runDue(); // a batch before it is due runs nothing
  assert.equal(runs.length, 0);
  await sleep(1_100);
  inBatch = true;
  runDue();
  inBatch = false;
  assert.equal(runs.length, 1, 'the due job did not run in the batch');
  // No batch after that: its timer runs it at 4000, not at 3000, where it had been set.
  await until(() => runs.length >= 2);
  job.stop();
  assert.equal(runs.length, 2);
  assert.equal(runs[1].inBatch, false);
  assert.ok(runs[1].at >= 3_900, `the timer ran it at ${Math.round(runs[1].at)} ms, by its old latest time`);
});

test('a randomised interval is asked for each run', async () => {
  const intervals = [60, 120, 60, 120, 60];
  const asked: number[] = [];
  const runs: number[] = [];
  const started = performance.now();
  const job = every(
    () => {
      const ms = intervals[asked.length % intervals.length];
      asked.push(ms);
      return ms;
    },
    () => runs.push(performance.now() - started),
    20,
  );
  await until(() => runs.length >= 4);
  job.stop();
  // Due at 60, 180, 240, 360 at the earliest, and the next interval asked for after each run.
  assert.equal(runs.length, 4);
  assert.ok(asked.length >= 5);
  let due = 0;
  runs.forEach((at, i) => {
    due += asked[i];
    assert.ok(at >= due - 1, `run ${i + 1} at ${Math.round(at)} ms, due at ${due}`);
  });
});

test('a job that throws does not keep the others from running: its error is thrown after them', async () => {
  let runs = 0;
  const failing = every(50, () => {
    throw new Error('a failing job');
  }, 1_000);
  const other = every(50, () => runs++, 1_000);
  await sleep(80);
  assert.throws(() => runDue(), /a failing job/);
  assert.equal(runs, 1, 'the job after the failing one did not run');
  // Both run again when due again.
  await sleep(60);
  assert.throws(() => runDue(), /a failing job/);
  assert.equal(runs, 2);
  failing.stop();
  other.stop();
});
