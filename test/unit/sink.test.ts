/**
 * A viewer sink's RTCP side against a real werift RTCRtpSender (werift's own class, as the relay
 * resolves it): NACKs werift parses reach the forwarder, the RTX stream werift negotiated is seen,
 * and the sender reports the relay writes carry its clock and counts, with the CNAME, in the
 * state werift then uses to measure the round trip from the viewer's receiver reports.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compactNtp,
  GenericNack,
  RtcpPacketConverter,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  RtcpTransportLayerFeedback,
  RTCRtpSender,
  type RtcpPacket,
} from 'werift';
import { Egress } from '../../src/relay/egress.js';
import { ViewerSink } from '../../src/relay/sink.js';
import { AEAD_AES_128_GCM } from '../../src/relay/srtp.js';
import { compactNtpOf, senderReport } from '../../src/relay/werift/sender.js';
import { srtpKeyPair } from '../helpers/srtp-keys.js';

/** werift keeps these private; the test reads and sets them as the relay's adapter does. */
type SenderInternals = { rtxPayloadType?: number; rtt?: number };

function sinkWithWeriftSender() {
  const sender = new RTCRtpSender('video');
  const egress = new Egress(srtpKeyPair(AEAD_AES_128_GCM).keys, { kind: 'function', send: () => undefined }, { ssrc: sender.ssrc, payloadType: 96, seqOffset: 0, tsOffset: 0 });
  return { sender, sink: new ViewerSink('video', egress, sender) };
}

test("werift's parsed NACKs reach the sink's handler until it unsubscribes", () => {
  const { sender, sink } = sinkWithWeriftSender();
  const heard: number[][] = [];
  const stop = sink.rtcp!.onNack((lost) => heard.push(lost));
  const nack = () => new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: sender.ssrc, lost: [65535, 3, 7] }) });
  sender.handleRtcpPacket(nack());
  assert.deepEqual(heard, [[65535, 3, 7]]);
  stop();
  sender.handleRtcpPacket(nack());
  assert.equal(heard.length, 1);
});

test('the RTX stream is there once werift has an RTX payload type for the sender', () => {
  const { sender, sink } = sinkWithWeriftSender();
  assert.equal(sink.rtcp!.rtx, undefined);
  (sender as unknown as SenderInternals).rtxPayloadType = 97;
  assert.deepEqual(sink.rtcp!.rtx, { ssrc: sender.rtxSsrc, payloadType: 97 });
});

test('a sender report carries what the relay set, with the CNAME; werift then measures the round trip from a receiver report', async () => {
  const { sender, sink } = sinkWithWeriftSender();
  const sent: RtcpPacket[] = [];
  sink.rtcp!.sendReport(); // no transport yet: nothing, and no throw
  Object.assign(sender, { cname: 'lancast-cname', dtlsTransport: { sendRtcp: async (packets: RtcpPacket[]) => void sent.push(...packets) } });
  const ntpTimestamp = (3_960_000_000n << 32n) | 123_456n;
  sink.rtcp!.update({ ntpTimestamp, rtpTimestamp: 0xfffffff0, packetCount: 42, octetCount: 42_000 });
  sink.rtcp!.sendReport();
  const [sr, sdes] = RtcpPacketConverter.deSerialize(Buffer.concat(sent.map((p) => p.serialize())));
  assert.ok(sr instanceof RtcpSrPacket);
  assert.equal(sr.ssrc, sender.ssrc);
  assert.deepEqual(
    [sr.senderInfo.ntpTimestamp, sr.senderInfo.rtpTimestamp, sr.senderInfo.packetCount, sr.senderInfo.octetCount],
    [ntpTimestamp, 0xfffffff0, 42, 42_000],
  );
  assert.ok(sdes instanceof RtcpSourceDescriptionPacket);
  assert.equal(sdes.chunks[0].items[0].text, 'lancast-cname');
  assert.equal((sender as unknown as SenderInternals).rtt, undefined);
  const report = new RtcpReceiverInfo({ ssrc: sender.ssrc, fractionLost: 0, packetsLost: 0, highestSequence: 1, jitter: 0, lsr: compactNtp(ntpTimestamp), dlsr: 1 });
  sender.handleRtcpPacket(new RtcpRrPacket({ ssrc: 1, reports: [report] }));
  assert.equal(typeof (sender as unknown as SenderInternals).rtt, 'number', 'werift matched the report to the sender report the relay sent');
});

test('the sender report written at once is what werift serializes, with the SDES chunk always null-terminated', () => {
  const info = { ntpTimestamp: (3_960_000_123n << 32n) | 0xfedcba98n, rtpTimestamp: 0xfffffff0, packetCount: 0x1_0000_0002 % 2 ** 32, octetCount: 4_000_000_000 };
  for (const cname of [undefined, 'a', 'ab', 'abc', 'abcd', 'lancast-cname', '{6a1f0e5c-3b1d-4e52-9f0e-77c2b3a4d5e6}', 'ünïcødé']) {
    const ours = senderReport(0x89abcdef, info, cname);
    const theirs: RtcpPacket[] = [new RtcpSrPacket({ ssrc: 0x89abcdef, senderInfo: new RtcpSenderInfo(info) })];
    if (cname !== undefined) {
      theirs.push(new RtcpSourceDescriptionPacket({ chunks: [new SourceDescriptionChunk({ source: 0x89abcdef, items: [new SourceDescriptionItem({ type: 1, text: cname })] })] }));
    }
    const werift = Buffer.concat(theirs.map((p) => p.serialize()));
    const text = cname === undefined ? 0 : Buffer.byteLength(cname);
    // werift adds no null octet when the item ends at a 32-bit boundary (SSRC, type, length, text).
    const atBoundary = cname !== undefined && (6 + text) % 4 === 0;
    assert.equal(ours.length % 4, 0);
    assert.equal(ours.length, werift.length + (atBoundary ? 4 : 0), `CNAME ${cname}`);
    if (!atBoundary) assert.deepEqual(ours, werift, `CNAME ${cname}`);
    const [sr, sdes] = RtcpPacketConverter.deSerialize(ours);
    assert.ok(sr instanceof RtcpSrPacket);
    assert.equal(sr.ssrc, 0x89abcdef);
    assert.deepEqual([sr.senderInfo.ntpTimestamp, sr.senderInfo.rtpTimestamp, sr.senderInfo.packetCount, sr.senderInfo.octetCount], [info.ntpTimestamp, info.rtpTimestamp, info.packetCount, info.octetCount]);
    if (cname === undefined) assert.equal(sdes, undefined);
    else {
      assert.ok(sdes instanceof RtcpSourceDescriptionPacket);
      assert.equal(sdes.chunks[0].items[0].text, cname);
      // The chunk ends with one to four null octets.
      const end = 38 + text;
      assert.ok(ours.length - end >= 1 && ours.length - end <= 4 && ours.subarray(end).every((b) => b === 0));
    }
  }
  for (const ntp of [0n, (3_960_000_123n << 32n) | 0xfedcba98n, 0xffffffffffffffffn, 0x0000ffffffff0000n]) assert.equal(compactNtpOf(ntp), compactNtp(ntp));
});
