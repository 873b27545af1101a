/**
 * Dynacast's decision (src/relay/dynacast.ts): which of a simulcast publisher's layers to pause,
 * from which layers viewers want, which the publisher sends and which a recording keeps; and the
 * layers' record of a paused layer (layers.ts): still offered, at its rate from before.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LAYER_IDLE_MS, LayerPauses } from '../../src/relay/dynacast.js';
import { SimulcastLayers } from '../../src/relay/layers.js';

const ALL = 0b111;

test('a layer sent and unwanted for LAYER_IDLE_MS is paused; a wanted one never is', () => {
  const p = new LayerPauses();
  assert.equal(p.step({ wanted: 0b100, sending: ALL, kept: 0 }, 0), false);
  assert.equal(p.step({ wanted: 0b100, sending: ALL, kept: 0 }, LAYER_IDLE_MS - 1), false, 'not yet');
  assert.equal(p.step({ wanted: 0b100, sending: ALL, kept: 0 }, LAYER_IDLE_MS), true);
  assert.equal(p.paused, 0b011);
  assert.equal(p.step({ wanted: 0b100, sending: 0b100, kept: 0 }, LAYER_IDLE_MS + 500), false, 'paused layers stop coming: nothing changes');
});

test('wanted again: resumed at once; left again: paused only after a new LAYER_IDLE_MS', () => {
  const p = new LayerPauses();
  p.step({ wanted: 0b100, sending: ALL, kept: 0 }, 0);
  p.step({ wanted: 0b100, sending: ALL, kept: 0 }, LAYER_IDLE_MS);
  assert.equal(p.step({ wanted: 0b110, sending: 0b100, kept: 0 }, LAYER_IDLE_MS + 100), true);
  assert.equal(p.paused, 0b001, 'the middle layer resumed, the lowest not');
  const t = LAYER_IDLE_MS + 1_000;
  p.step({ wanted: 0b100, sending: ALL, kept: 0 }, t);
  assert.equal(p.step({ wanted: 0b100, sending: ALL, kept: 0 }, t + LAYER_IDLE_MS - 1), false);
  assert.equal(p.step({ wanted: 0b100, sending: ALL, kept: 0 }, t + LAYER_IDLE_MS), true);
  assert.equal(p.paused, 0b011);
});

test('a layer the publisher does not send is not paused (it may start it later); nor anything while nobody is on any layer', () => {
  const p = new LayerPauses();
  p.step({ wanted: 0b010, sending: 0b011, kept: 0 }, 0);
  p.step({ wanted: 0b010, sending: 0b011, kept: 0 }, LAYER_IDLE_MS);
  assert.equal(p.paused, 0b001, 'the top, held back by the publisher itself, is left alone');
  const q = new LayerPauses();
  q.step({ wanted: 0, sending: ALL, kept: 0 }, 0);
  assert.equal(q.step({ wanted: 0, sending: ALL, kept: 0 }, 10 * LAYER_IDLE_MS), false, 'nobody watching: the whole publisher pauses instead');
  assert.equal(q.paused, 0);
});

test('the layer a recording takes is kept, watched or not, and resumed when a recording starts', () => {
  const p = new LayerPauses();
  p.step({ wanted: 0b001, sending: ALL, kept: 0 }, 0);
  p.step({ wanted: 0b001, sending: ALL, kept: 0 }, LAYER_IDLE_MS);
  assert.equal(p.paused, 0b110);
  assert.equal(p.step({ wanted: 0b001, sending: 0b001, kept: 0b100 }, LAYER_IDLE_MS + 1), true);
  assert.equal(p.paused, 0b010);
});

test('a paused layer is offered at its rate from before and its size; resumed, it is "resuming" until its packets come', () => {
  const layers = new SimulcastLayers(['q', 'h', 'f']);
  for (let i = 0; i < 3; i++) layers.noteBytes(i, 1_000, true);
  layers.setPaused([{ index: 1, bitsPerSecond: 500_000, width: 640, height: 360 }]);
  const h = layers.ordered().find((l) => l.rid === 'h')!;
  assert.deepEqual([h.active, h.paused, h.bitsPerSecond, h.height], [false, true, 500_000, 360]);
  assert.deepEqual(layers.paused(), [{ index: 1, bitsPerSecond: 500_000, width: 640, height: 360 }]);
  assert.equal(layers.received(1), 0, 'what is received is measured, not remembered');
  for (let i = 0; i < 4; i++) layers.noteBytes(2, 1_000, true); // the others go on: h has stopped
  layers.setPaused([]);
  const resumed = layers.ordered().find((l) => l.rid === 'h')!;
  assert.deepEqual([resumed.paused, resumed.resuming, resumed.bitsPerSecond], [undefined, true, 500_000], 'until its meter has a second of it, its rate from before counts');
  assert.deepEqual(layers.paused(), []);
});
