/**
 * Answering a viewer's NACKs from the publisher's history, through a real Egress whose packets a
 * werift SRTP session (the viewer's side) decrypts: what is still at hand goes again with the
 * viewer's header, as RTX (RFC 4588) when the viewer negotiated it; what is gone is skipped.
 * Paced as a simulcast viewer's are (resend-pacer.ts): not again within the gap, within a share
 * of the viewer's budget, a storm of refusals told.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpPacket } from 'werift';
import { Egress, type StreamHeader } from '../../src/relay/egress.js';
import { NackResponder } from '../../src/relay/nack-responder.js';
import { HISTORY_SIZE, PacketHistory } from '../../src/relay/packet-history.js';
import { RESEND_GAP_MS, STORM } from '../../src/relay/resend-pacer.js';
import type { StreamRtcp } from '../../src/relay/sink.js';
import { AEAD_AES_128_GCM } from '../../src/relay/srtp.js';
import { srtpKeyPair } from '../helpers/srtp-keys.js';

const HEADER: StreamHeader = { ssrc: 0x1234, payloadType: 96, seqOffset: 1_000, tsOffset: 70_000 };

/** A viewer's stream whose sent packets arrive decrypted in `received`. */
function viewer(rtx?: { ssrc: number; payloadType: number }) {
  const { session, keys } = srtpKeyPair(AEAD_AES_128_GCM);
  const received: RtpPacket[] = [];
  const egress = new Egress(keys, { kind: 'function', send: (p) => received.push(RtpPacket.deSerialize(session.decrypt(p))) }, HEADER);
  const rtcp = { rtx } as StreamRtcp;
  return { sink: { egress, rtcp }, received };
}

/** Publisher packets 65530.. (a wrap ahead), ts 3000 apart, each payload its own sequence number. */
function history(count: number, skip: number[] = []): PacketHistory {
  const h = new PacketHistory();
  for (let n = 0; n < count; n++) {
    const seq = (65530 + n) & 0xffff;
    if (!skip.includes(seq)) h.put(seq, 3000 * n, n % 2 === 1, Uint8Array.of(seq >> 8, seq & 0xff, 0xaa), n);
  }
  return h;
}
const viewerSeq = (publisherSeq: number) => (publisherSeq + HEADER.seqOffset) & 0xffff;

test('without RTX, the lost packets go again as they were, with the viewer header', () => {
  const { sink, received } = viewer();
  const nacks = new NackResponder(history(10), sink);
  assert.equal(nacks.resend([viewerSeq(65531), viewerSeq(1)], 0).sent, 2);
  assert.deepEqual(
    received.map((p) => [p.header.ssrc, p.header.payloadType, p.header.sequenceNumber, p.header.timestamp, p.header.marker]),
    [
      [0x1234, 96, viewerSeq(65531), 3000 + 70_000, true],
      [0x1234, 96, viewerSeq(1), 3000 * 7 + 70_000, true],
    ],
  );
  assert.deepEqual(received[1].payload, Buffer.from([0, 1, 0xaa]));
});

test('with RTX, each goes on the RTX stream: its own SSRC, payload type and sequence, the original sequence first', () => {
  const { sink, received } = viewer({ ssrc: 0x5678, payloadType: 97 });
  const nacks = new NackResponder(history(10), sink, 65535);
  assert.equal(nacks.resend([viewerSeq(65530), viewerSeq(0)], 0).sent, 2);
  assert.deepEqual(received.map((p) => [p.header.ssrc, p.header.payloadType, p.header.sequenceNumber, p.header.timestamp]), [
    [0x5678, 97, 65535, 70_000],
    [0x5678, 97, 0, 3000 * 6 + 70_000],
  ]);
  assert.deepEqual(received[0].payload, Buffer.from([viewerSeq(65530) >> 8, viewerSeq(65530) & 0xff, 0xff, 0xfa, 0xaa]));
  assert.deepEqual(received[1].payload.subarray(0, 2), Buffer.from([viewerSeq(0) >> 8, viewerSeq(0) & 0xff]));
});

test('what never arrived or has left the history is skipped; a closed egress sends nothing', () => {
  const { sink, received } = viewer();
  const h = history(HISTORY_SIZE + 5, [200]);
  const nacks = new NackResponder(h, sink);
  assert.equal(nacks.resend([viewerSeq(200), viewerSeq(65530), viewerSeq(100)], 0).sent, 1, '200 never arrived, 65530 was overwritten');
  assert.deepEqual(received.map((p) => p.header.sequenceNumber), [viewerSeq(100)]);
  sink.egress.close();
  assert.equal(nacks.resend([viewerSeq(200)], RESEND_GAP_MS).sent, 0);
  assert.equal(nacks.resend([viewerSeq(100)], RESEND_GAP_MS).sent, 0);
});

test('a packet resent a moment ago is not resent again until the gap has passed', () => {
  const { sink, received } = viewer();
  const nacks = new NackResponder(history(10), sink);
  assert.deepEqual(nacks.resend([viewerSeq(2), viewerSeq(3)], 1_000), { sent: 2, storm: false });
  assert.deepEqual(nacks.resend([viewerSeq(2), viewerSeq(3)], 1_050), { sent: 0, storm: false });
  assert.equal(nacks.resendsSkipped, 2);
  assert.deepEqual(nacks.resend([viewerSeq(2)], 1_000 + RESEND_GAP_MS), { sent: 1, storm: false });
  assert.deepEqual(received.map((p) => p.header.sequenceNumber), [viewerSeq(2), viewerSeq(3), viewerSeq(2)]);
});

test("resends stay within a share of the viewer's budget; past STORM refusals a keyframe is called for", () => {
  const { sink, received } = viewer({ ssrc: 0x5678, payloadType: 97 });
  const h = new PacketHistory();
  for (let seq = 0; seq < 200; seq++) h.put(seq, 3000 * seq, true, new Uint8Array(100), seq);
  const nacks = new NackResponder(h, sink);
  const lost = Array.from({ length: 200 }, (_, seq) => viewerSeq(seq));
  // 160 kbit/s of budget: a quarter, 5 bytes/ms, in bursts of 1000 bytes: 10 packets of 100 bytes at once.
  assert.deepEqual(nacks.resend(lost, 5_000, 160_000), { sent: 10, storm: true }, `190 refused, past ${STORM}`);
  assert.equal(nacks.resendsSkipped, 190);
  assert.equal(received.length, 10);
  assert.ok(received.every((p) => p.header.ssrc === 0x5678), 'on the RTX stream');
  // 200 ms on, the bucket has filled again: the next ten go; the refusals this second were told already.
  assert.deepEqual(nacks.resend(lost.slice(10), 5_200, 160_000), { sent: 10, storm: false });
  assert.equal(nacks.resendsSkipped, 190 + 180);
});
