import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseClientMessage, ServerMessage } from '../../src/signaling/protocol.js';

describe('parseClientMessage', () => {
  const code = (text: string) => {
    const r = parseClientMessage(text);
    return r.ok ? 'ok' : r.code;
  };

  test('accepts each valid message type', () => {
    assert.equal(code('{"type":"join","role":"viewer","room":"main"}'), 'ok');
    assert.equal(code('{"type":"join","role":"broadcaster","room":"直播-1","key":"k","mode":"relay"}'), 'ok');
    assert.equal(code('{"type":"offer","to":"a","cid":"c","sdp":"v=0"}'), 'ok');
    assert.equal(code('{"type":"answer","to":"a","cid":"c","sdp":"v=0"}'), 'ok');
    assert.equal(code('{"type":"candidate","to":"a","cid":"c","candidate":null}'), 'ok');
    assert.equal(code('{"type":"candidate","to":"a","cid":"c","candidate":{"candidate":"x","sdpMid":"0","sdpMLineIndex":0}}'), 'ok');
    assert.equal(code('{"type":"restart","to":"a"}'), 'ok');
    assert.equal(code('{"type":"hangup","to":"a","cid":"c"}'), 'ok');
    assert.equal(code('{"type":"leave"}'), 'ok');
  });

  test('names what is wrong', () => {
    assert.equal(code('not json'), 'bad-json');
    assert.equal(code('null'), 'bad-message');
    assert.equal(code('[]'), 'bad-message');
    assert.equal(code('{"type":1}'), 'bad-message');
    assert.equal(code('{"type":"teleport"}'), 'unknown-type');
    assert.equal(code('{"type":"join","role":"viewer"}'), 'bad-message');
    assert.equal(code('{"type":"join","role":"viewer","room":"a b"}'), 'bad-message');
    assert.equal(code('{"type":"join","role":"viewer","room":"' + 'x'.repeat(65) + '"}'), 'bad-message');
    assert.equal(code('{"type":"offer","to":"a","cid":"c"}'), 'bad-message');
    assert.equal(code('{"type":"join","role":"viewer","room":"main","mode":"warp"}'), 'bad-message');
  });

  test('an error says where: the field path', () => {
    const r = parseClientMessage('{"type":"offer","to":"a","cid":"c","sdp":""}');
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /^sdp:/);
  });

  test('a long unknown type is cut in the reply', () => {
    const r = parseClientMessage(JSON.stringify({ type: 'x'.repeat(1000) }));
    assert.ok(!r.ok && r.ref!.length <= 32);
  });
});

describe('ServerMessage', () => {
  test('validates what the browser client receives', () => {
    assert.ok(ServerMessage.safeParse({ type: 'viewer-joined', id: 'abc' }).success);
    assert.ok(ServerMessage.safeParse({ type: 'room', live: true, viewers: 3, mode: 'relay', reason: 'r' }).success);
    assert.ok(!ServerMessage.safeParse({ type: 'room', live: 'yes' }).success);
  });
});
