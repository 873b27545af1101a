/**
 * The STUN authentication patch (src/relay/werift/stun-auth.ts) is in place over the werift it was
 * written for, and its verdicts on requests built by werift's own STUN code (the integration test,
 * test/integration/stun-auth.test.ts, sends hand-made ones to a real relay leg).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classes, Connection, Message, methods, parseMessage } from 'werift';
import { authenticate, installWeriftPatches, replacements, weriftVersion, type LocalCredentials } from '../../src/relay/werift/index.js';

installWeriftPatches();

const local: LocalCredentials = { localUsername: 'rlay', localPassword: 'relay-password-0123456789', userHistory: { old1: 'old-password-0123456789ab' } };

/** A binding request as a peer sends it, and what werift's parser makes of it. */
function request(username: string | undefined, password?: string): [Message, Buffer] {
  const m = new Message(methods.BINDING, classes.REQUEST);
  if (username !== undefined) m.setAttribute('USERNAME', username);
  m.setAttribute('PRIORITY', 1853824767);
  if (password !== undefined) m.addMessageIntegrity(Buffer.from(password, 'utf8'));
  m.addFingerprint();
  const bytes = m.bytes;
  return [parseMessage(bytes)!, bytes];
}

test('the patch is applied, over werift 0.24.4 (check stun-auth.ts again before moving werift)', () => {
  assert.equal(weriftVersion(), '0.24.4');
  const mine = replacements.find((r) => r.patch === 'stun-authentication');
  assert.ok(mine, 'installed');
  assert.equal((Connection.prototype as unknown as { ensureProtocol: unknown }).ensureProtocol, mine.replacement, "werift's ensureProtocol is lancast's");
});

test('our ufrag with the right integrity passes, also an earlier generation with its own password', () => {
  assert.equal(authenticate(local, ...request('rlay:peer', local.localPassword)), 'ok');
  assert.equal(authenticate(local, ...request('old1:peer', 'old-password-0123456789ab')), 'ok');
});

test('an unknown or missing ufrag is dropped, whatever the integrity', () => {
  for (const username of ['other:peer', 'rlayx:peer', 'rlay', ':rlay', 'constructor:peer', '__proto__:peer', undefined]) {
    assert.equal(authenticate(local, ...request(username, local.localPassword)), 'drop', String(username));
  }
});

test('our ufrag without integrity is 400, with a wrong one 401', () => {
  assert.deepEqual(authenticate(local, ...request('rlay:peer')), [400, 'Bad Request']);
  assert.deepEqual(authenticate(local, ...request('rlay:peer', 'not-the-password')), [401, 'Unauthorized']);
  // An earlier generation's ufrag keyed with today's password is wrong too.
  assert.deepEqual(authenticate(local, ...request('old1:peer', local.localPassword)), [401, 'Unauthorized']);
});
