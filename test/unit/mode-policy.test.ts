/** A room's media path as a function of its facts: p2p, or the relay, and why. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wantedMode, type ModeFacts } from '../../src/signaling/mode-policy.js';

const room = (facts: Partial<ModeFacts>): ModeFacts => ({
  relay: true,
  whip: false,
  recorded: false,
  players: 0,
  configured: 'auto',
  viewers: 0,
  current: 'p2p',
  threshold: 4,
  ...facts,
});

test('auto: p2p up to the threshold, the relay past it', () => {
  assert.deepEqual(wantedMode(room({ viewers: 4 })), { mode: 'p2p', reason: 'peer to peer: 4 viewers or fewer' });
  assert.deepEqual(wantedMode(room({ viewers: 5 })), { mode: 'relay', reason: 'relay: more than 4 viewers' });
  assert.equal(wantedMode(room({ viewers: 2, threshold: 1 })).mode, 'relay');
  assert.equal(wantedMode(room({ viewers: 0, threshold: 0 })).mode, 'p2p', 'nobody to relay to');
});

test('auto: a relayed room stays relayed until it is empty (no flapping at the threshold)', () => {
  assert.equal(wantedMode(room({ viewers: 1, current: 'relay' })).mode, 'relay');
  assert.deepEqual(wantedMode(room({ viewers: 0, current: 'relay' })), { mode: 'p2p', reason: 'peer to peer: 4 viewers or fewer' });
});

test("the broadcaster's choice wins over the count", () => {
  assert.deepEqual(wantedMode(room({ configured: 'relay' })), { mode: 'relay', reason: 'relay: chosen for this room' });
  assert.deepEqual(wantedMode(room({ configured: 'p2p', viewers: 50 })), { mode: 'p2p', reason: 'peer to peer: chosen for this room' });
  assert.deepEqual(wantedMode(room({ configured: 'p2p', current: 'relay', viewers: 3 })).mode, 'p2p');
});

test('WHEP players move an auto room to the relay, but not a room chosen p2p', () => {
  assert.deepEqual(wantedMode(room({ players: 1 })), { mode: 'relay', reason: 'relay: WHEP players are watching' });
  assert.deepEqual(wantedMode(room({ players: 1, configured: 'p2p' })), { mode: 'p2p', reason: 'peer to peer: chosen for this room (WHEP cannot play it)' });
});

test('a WHIP broadcaster is always relayed, whatever was chosen', () => {
  assert.deepEqual(wantedMode(room({ whip: true, configured: 'p2p' })), { mode: 'relay', reason: 'relay: the broadcaster publishes over WHIP' });
});

test('a recorded room is relayed: the recorder needs its media at the server', () => {
  assert.deepEqual(wantedMode(room({ recorded: true, configured: 'p2p' })), { mode: 'relay', reason: 'relay: this room is being recorded' });
});

test('without a relay everything is p2p', () => {
  for (const facts of [{ whip: true }, { recorded: true }, { players: 2 }, { configured: 'relay' as const }, { viewers: 100 }]) {
    assert.deepEqual(wantedMode(room({ relay: false, ...facts })), { mode: 'p2p', reason: 'peer to peer: this server has no relay' });
  }
});
