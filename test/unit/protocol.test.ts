import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CLIENT_MESSAGE_TYPES, ErrorCode, parseClientMessage, ROOM_NAME, ServerMessage, type ParseResult } from '../../src/signaling/protocol.js';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';

const parse = (msg: unknown): ParseResult => parseClientMessage(typeof msg === 'string' ? msg : JSON.stringify(msg));
const code = (msg: unknown): string => {
  const r = parse(msg);
  return r.ok ? 'ok' : r.code;
};

describe('parseClientMessage accepts', () => {
  test('each message type a client may send', () => {
    const valid = [
      { type: 'join', role: 'viewer', room: 'main' },
      { type: 'join', role: 'broadcaster', room: '直播-1', key: 'k', mode: 'relay', viewPassword: 'pw' },
      { type: 'join', role: 'viewer', room: 'main', password: 'pw' },
      { type: 'offer', to: 'a', cid: 'c', sdp: SDP },
      { type: 'answer', to: 'a', cid: 'c', sdp: SDP },
      { type: 'candidate', to: 'a', cid: 'c', candidate: null },
      { type: 'candidate', to: 'a', cid: 'c', candidate: { candidate: 'candidate:1 1 udp 1 1.2.3.4 5 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null } },
      { type: 'restart', to: 'a' },
      { type: 'hangup', to: 'a', cid: 'c' },
      { type: 'leave' },
      { type: 'ping' },
      { type: 'quality', to: 'relay', cid: 'c', choice: 'auto' },
      { type: 'quality', to: 'relay', cid: 'c', choice: 360 },
      { type: 'quality', to: 'relay', cid: 'c', choice: 'auto', shown: 412 },
    ];
    for (const msg of valid) assert.equal(code(msg), 'ok', JSON.stringify(msg));
    assert.deepEqual(
      [...new Set(valid.map((m) => m.type))].sort(),
      [...CLIENT_MESSAGE_TYPES].sort(),
      'every client type is covered above',
    );
  });

  test('fields a client may not set are dropped, so a client cannot choose its id or its sender', () => {
    const r = parse({ type: 'join', role: 'viewer', room: 'main', id: 'mine', from: 'someone' });
    assert.ok(r.ok);
    assert.deepEqual(r.message, { type: 'join', role: 'viewer', room: 'main' });
    const offer = parse({ type: 'offer', to: 'a', cid: 'c', sdp: SDP, from: 'forged' });
    assert.ok(offer.ok);
    assert.equal('from' in offer.message, false);
  });

  test('room names of letters and digits in any script, - and _, up to 64 characters', () => {
    for (const room of ['main', 'a', 'Room_2-b', '直播', 'Ünïcødé', 'комната', '٣٤', 'x'.repeat(64)]) {
      assert.equal(code({ type: 'join', role: 'viewer', room }), 'ok', room);
      assert.ok(ROOM_NAME.test(room), room);
    }
  });
});

describe('parseClientMessage refuses', () => {
  test('text that is not JSON: bad-json', () => {
    for (const text of ['', 'hello', '{', '{"type":"join",}', "{'type':'join'}", 'undefined', '{"type":"ping"} trailing']) {
      const r = parseClientMessage(text);
      assert.ok(!r.ok && r.code === 'bad-json', JSON.stringify(text));
      assert.equal(r.ok ? '' : r.message, 'message is not valid JSON');
    }
  });

  test('JSON that is not an object: bad-message', () => {
    for (const text of ['null', '42', '"join"', 'true', '[]', '[{"type":"ping"}]']) {
      const r = parseClientMessage(text);
      assert.ok(!r.ok && r.code === 'bad-message', text);
      assert.equal(r.ok ? '' : r.message, 'message must be a JSON object');
    }
  });

  test('an object without a string type: bad-message', () => {
    for (const msg of [{}, { type: null }, { type: 1 }, { type: ['join'] }, { type: { join: true } }, { to: 'a' }]) {
      const r = parse(msg);
      assert.ok(!r.ok && r.code === 'bad-message', JSON.stringify(msg));
      assert.equal(r.ok ? '' : r.message, 'message has no "type"');
    }
  });

  test('a type the protocol does not have: unknown-type, naming it', () => {
    for (const type of ['teleport', 'JOIN', 'welcome', 'viewer-joined', 'push_init', '', '__proto__', 'constructor']) {
      const r = parse({ type });
      assert.ok(!r.ok && r.code === 'unknown-type', type);
      assert.equal(r.ok ? '' : r.message, `unknown message type "${type}"`);
    }
  });

  test('a long unknown type is cut to 32 characters in the reply', () => {
    const r = parse({ type: 'x'.repeat(10_000) });
    assert.ok(!r.ok && r.code === 'unknown-type');
    assert.equal(r.ref, 'x'.repeat(32));
    assert.ok(r.message.length < 64);
  });

  test('a missing field: bad-message, naming the field, with the type as ref', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ type: 'join', room: 'main' }, 'role'],
      [{ type: 'join', role: 'viewer' }, 'room'],
      [{ type: 'offer', cid: 'c', sdp: SDP }, 'to'],
      [{ type: 'offer', to: 'a', sdp: SDP }, 'cid'],
      [{ type: 'offer', to: 'a', cid: 'c' }, 'sdp'],
      [{ type: 'answer', to: 'a', cid: 'c' }, 'sdp'],
      [{ type: 'candidate', to: 'a', cid: 'c' }, 'candidate'],
      [{ type: 'candidate', to: 'a', cid: 'c', candidate: {} }, 'candidate.candidate'],
      [{ type: 'restart' }, 'to'],
      [{ type: 'hangup', to: 'a' }, 'cid'],
      [{ type: 'quality', to: 'relay', cid: 'c' }, 'choice'],
    ];
    for (const [msg, field] of cases) {
      const r = parse(msg);
      assert.ok(!r.ok, JSON.stringify(msg));
      assert.equal(r.code, 'bad-message', JSON.stringify(msg));
      assert.equal(r.ref, msg.type);
      assert.ok(r.message.startsWith(`${field}: `), `${JSON.stringify(msg)}: ${r.message}`);
    }
  });

  test('a field with a wrong or out-of-range value: bad-message', () => {
    const bad: Record<string, unknown>[] = [
      { type: 'quality', to: 'relay', cid: 'c', choice: 'best' },
      { type: 'quality', to: 'relay', cid: 'c', choice: 0 },
      { type: 'quality', to: 'relay', cid: 'c', choice: 360.5 },
      { type: 'quality', to: 'relay', cid: 'c', choice: 'auto', shown: -1 },
      { type: 'quality', to: 'relay', cid: 'c', choice: 'auto', shown: 1e9 },
      { type: 'quality', to: 'relay', cid: 'c', choice: 'auto', shown: 'big' },
      { type: 'join', role: 'king', room: 'main' },
      { type: 'join', role: 'viewer', room: '' },
      { type: 'join', role: 'viewer', room: 'a b' },
      { type: 'join', role: 'viewer', room: 'a.b' },
      { type: 'join', role: 'viewer', room: '../etc' },
      { type: 'join', role: 'viewer', room: '<img src=x>' },
      { type: 'join', role: 'viewer', room: '🎥' },
      { type: 'join', role: 'viewer', room: 'x'.repeat(65) },
      { type: 'join', role: 'viewer', room: 7 },
      { type: 'join', role: 'viewer', room: 'main', mode: 'warp' },
      { type: 'join', role: 'broadcaster', room: 'main', key: 'k'.repeat(257) },
      { type: 'join', role: 'broadcaster', room: 'main', key: null },
      { type: 'join', role: 'viewer', room: 'main', password: 'p'.repeat(257) },
      { type: 'join', role: 'broadcaster', room: 'main', viewPassword: '' },
      { type: 'offer', to: '', cid: 'c', sdp: SDP },
      { type: 'offer', to: 'a'.repeat(65), cid: 'c', sdp: SDP },
      { type: 'offer', to: 'a', cid: '', sdp: SDP },
      { type: 'offer', to: 'a', cid: 'c', sdp: '' },
      { type: 'offer', to: 'a', cid: 'c', sdp: 'v'.repeat(32 * 1024 + 1) },
      { type: 'answer', to: 12, cid: 'c', sdp: SDP },
      { type: 'candidate', to: 'a', cid: 'c', candidate: 'candidate:1 1 udp 1 1.2.3.4 5 typ host' },
      { type: 'candidate', to: 'a', cid: 'c', candidate: { candidate: 'c'.repeat(1025) } },
      { type: 'candidate', to: 'a', cid: 'c', candidate: { candidate: '', sdpMLineIndex: -1 } },
      { type: 'candidate', to: 'a', cid: 'c', candidate: { candidate: '', sdpMLineIndex: 1.5 } },
      { type: 'candidate', to: 'a', cid: 'c', candidate: { candidate: '', sdpMLineIndex: 65 } },
      { type: 'candidate', to: 'a', cid: 'c', candidate: { candidate: '', sdpMid: 'm'.repeat(65) } },
    ];
    for (const msg of bad) {
      const r = parse(msg);
      assert.ok(!r.ok && r.code === 'bad-message', JSON.stringify(msg).slice(0, 120));
      assert.equal(r.ref, msg.type);
    }
  });

  test('the reason a room name is refused is one a person can act on', () => {
    const r = parse({ type: 'join', role: 'viewer', room: 'a b' });
    assert.ok(!r.ok);
    assert.equal(r.message, 'room: room names use letters, digits, - and _ (1-64)');
  });

  test('whatever it is given, it answers with a result and never throws', () => {
    const codes = new Set(ErrorCode.options);
    const check = (text: string) => {
      const r = parseClientMessage(text);
      assert.ok(r.ok || (codes.has(r.code) && typeof r.message === 'string'));
    };
    fc.assert(fc.property(fc.string({ maxLength: 200 }), check), { numRuns: 500 });
    fc.assert(fc.property(fc.json({ maxDepth: 4 }), check), { numRuns: 500 });
    const anyField = fc.oneof(fc.string({ maxLength: 70 }), fc.integer(), fc.constant(null), fc.boolean(), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })));
    fc.assert(
      fc.property(fc.constantFrom(...CLIENT_MESSAGE_TYPES), fc.dictionary(fc.constantFrom('to', 'cid', 'sdp', 'room', 'role', 'candidate', 'key', 'mode'), anyField), (type, fields) =>
        check(JSON.stringify({ ...fields, type })),
      ),
      { numRuns: 1_000 },
    );
  });
});

describe('ServerMessage', () => {
  test('validates what the browser client receives', () => {
    assert.ok(ServerMessage.safeParse({ type: 'welcome', id: 'abc', role: 'viewer', room: 'main', mode: 'p2p', live: false, viewers: 0, iceServers: [{ urls: 'stun:a:1' }] }).success);
    assert.ok(ServerMessage.safeParse({ type: 'viewer-joined', id: 'abc' }).success);
    assert.ok(ServerMessage.safeParse({ type: 'room', live: true, viewers: 3, mode: 'relay', reason: 'r' }).success);
    assert.ok(ServerMessage.safeParse({ type: 'error', code: 'too-many-attempts', message: 'wait', ref: 'join', retryAfterMs: 1000 }).success);
    assert.ok(ServerMessage.safeParse({ type: 'offer', from: 'b', cid: 'c', sdp: SDP }).success);
  });

  test('refuses what a client should not trust', () => {
    assert.ok(!ServerMessage.safeParse({ type: 'room', live: 'yes', viewers: 1, mode: 'p2p' }).success);
    assert.ok(!ServerMessage.safeParse({ type: 'room', live: true, viewers: -1, mode: 'p2p' }).success);
    assert.ok(!ServerMessage.safeParse({ type: 'error', code: 'made-up', message: 'x' }).success);
    assert.ok(!ServerMessage.safeParse({ type: 'welcome', id: 'a', role: 'admin', room: 'main', mode: 'p2p', live: true, viewers: 0, iceServers: [] }).success);
    assert.ok(!ServerMessage.safeParse({ type: 'offer', to: 'b', cid: 'c', sdp: SDP }).success, 'a relayed offer names its sender');
  });
});
