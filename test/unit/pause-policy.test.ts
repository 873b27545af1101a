/** When an unwatched relayed publisher is told to stop sending, and when to resume: the decision and its clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PauseGate, pauseStep, type PauseFacts, type Timers } from '../../src/relay/pause-policy.js';

const facts = (f: Partial<PauseFacts>): PauseFacts => ({ enabled: true, ready: true, watched: false, paused: false, armed: false, ...f });

test('pauseStep: an unwatched ready publisher starts the countdown once', () => {
  assert.equal(pauseStep(facts({})), 'arm');
  assert.equal(pauseStep(facts({ armed: true })), 'none');
  assert.equal(pauseStep(facts({ paused: true })), 'none');
  assert.equal(pauseStep(facts({ ready: false })), 'none', 'a publisher that has sent nothing yet');
  assert.equal(pauseStep(facts({ enabled: false })), 'none', 'WHIP, or --pause-after 0');
});

test('pauseStep: somebody watching stops the countdown or resumes', () => {
  assert.equal(pauseStep(facts({ watched: true })), 'none');
  assert.equal(pauseStep(facts({ watched: true, armed: true })), 'disarm');
  assert.equal(pauseStep(facts({ watched: true, paused: true })), 'resume');
  assert.equal(pauseStep(facts({ watched: true, paused: true, ready: false })), 'resume');
  assert.equal(pauseStep(facts({ watched: true, paused: true, enabled: false })), 'none');
});

/** Timers driven by hand: `advance(ms)` fires what falls due. */
function manualTimers(): Timers & { now: number; advance(ms: number): void; pending(): number } {
  let seq = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  const t = {
    now: 0,
    set(fn: () => void, ms: number) {
      due.set(++seq, { at: t.now + ms, fn });
      return seq;
    },
    clear(handle: unknown) {
      due.delete(handle as number);
    },
    advance(ms: number) {
      t.now += ms;
      for (const [id, d] of [...due]) {
        if (d.at <= t.now) {
          due.delete(id);
          d.fn();
        }
      }
    },
    pending: () => due.size,
  };
  return t;
}

function gate(enabled = true) {
  const timers = manualTimers();
  const changes: [boolean, string][] = [];
  const g = new PauseGate({ enabled, afterMs: 5_000, onChange: (paused, why) => changes.push([paused, why]), timers });
  return { g, timers, changes };
}

test('PauseGate: pauses after the delay without viewers, resumes at once when one comes', () => {
  const { g, timers, changes } = gate();
  g.setWatched(false);
  assert.equal(timers.pending(), 0, 'nothing before the media arrives');
  g.setReady();
  timers.advance(4_999);
  assert.deepEqual(changes, []);
  timers.advance(1);
  assert.deepEqual(changes, [[true, 'nobody is watching']]);
  assert.equal(g.paused, true);
  g.setWatched(true);
  assert.deepEqual(changes.at(-1), [false, 'somebody is watching']);
  assert.equal(g.paused, false);
  assert.equal(timers.pending(), 0);
});

test('PauseGate: a viewer inside the delay cancels it; leaving starts it afresh', () => {
  const { g, timers, changes } = gate();
  g.setReady();
  timers.advance(3_000);
  g.setWatched(true);
  timers.advance(10_000);
  assert.deepEqual(changes, []);
  g.setWatched(false);
  timers.advance(4_000);
  assert.deepEqual(changes, []);
  timers.advance(1_000);
  assert.deepEqual(changes, [[true, 'nobody is watching']]);
});

test('PauseGate: waking resumes a paused publisher, which pauses again when no join follows', () => {
  const { g, timers, changes } = gate();
  g.setReady();
  timers.advance(5_000);
  g.wake();
  assert.deepEqual(changes, [[true, 'nobody is watching'], [false, 'a watch page is opening']]);
  timers.advance(5_000);
  assert.deepEqual(changes.at(-1), [true, 'nobody is watching']);
  const before = changes.length;
  g.setWatched(true);
  g.wake();
  assert.equal(changes.length, before + 1, 'waking a publisher that is not paused does nothing');
});

test('PauseGate: never pauses when it cannot tell the publisher; stop() silences it', () => {
  const off = gate(false);
  off.g.setReady();
  off.timers.advance(60_000);
  assert.deepEqual(off.changes, []);
  const { g, timers, changes } = gate();
  g.setReady();
  g.stop();
  timers.advance(60_000);
  g.setWatched(true);
  g.wake();
  assert.deepEqual(changes, []);
  assert.equal(timers.pending(), 0);
});

test('PauseGate: a held publisher (being recorded) is never paused, and a paused one resumes when woken', () => {
  const timers = manualTimers();
  const changes: [boolean, string][] = [];
  let held = false;
  const g = new PauseGate({ enabled: true, afterMs: 5_000, onChange: (paused, why) => changes.push([paused, why]), held: () => held, timers });
  g.setReady();
  held = true; // the recording starts while the countdown runs
  timers.advance(5_000);
  assert.deepEqual(changes, []);
  held = false;
  g.setWatched(false);
  timers.advance(5_000);
  assert.deepEqual(changes, [[true, 'nobody is watching']]);
  held = true;
  g.wake();
  timers.advance(60_000);
  assert.deepEqual(changes, [[true, 'nobody is watching'], [false, 'a watch page is opening']]);
});

test('PauseGate: woken when a recording stops (no longer held), an unwatched publisher starts its countdown again', () => {
  const timers = manualTimers();
  const changes: [boolean, string][] = [];
  let held = true;
  const g = new PauseGate({ enabled: true, afterMs: 2_000, onChange: (paused, why) => changes.push([paused, why]), held: () => held, timers });
  g.setReady();
  timers.advance(10_000);
  assert.deepEqual(changes, [], 'held: never paused');
  held = false;
  g.wake();
  timers.advance(2_000);
  assert.deepEqual(changes, [[true, 'nobody is watching']]);
});
