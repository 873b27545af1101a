/**
 * Native SRTCP (native/fanout.c `srtcp`, `unprotectRtcp`, `protectRtcp`) held to werift's SRTCP
 * session as the oracle, both profiles: what a peer's werift encrypts decrypts natively to the
 * same bytes, and what the native side encrypts is byte for byte what werift would send with
 * that index, and decrypts in werift. Packets sent in the clear (E flag 0) authenticate the same.
 * A forged tag, a truncated packet, a replayed or too old index are refused and leave the state
 * as it was. Last, the swap on a connected werift leg (werift as the relay runs it).
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  GenericNack,
  MediaStreamTrack,
  ReceiverEstimatedMaxBitrate,
  RtcpPayloadSpecificFeedback,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  RTCPeerConnection,
  SourceDescriptionChunk,
  SourceDescriptionItem,
} from 'werift';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, native } from '../../src/relay/egress.js';
import { iceConfig } from '../../src/relay/ice.js';
import { useNativeSrtcp } from '../../src/relay/rtcp-crypto.js';
import { connectPair } from '../helpers/werift-pair.js';
import { srtcpContext, srtcpLegs, type SrtcpContext } from '../helpers/srtp-keys.js';
import { installWeriftPatches } from '../../src/relay/werift/index.js';
import { connectedSrtcp } from '../../src/relay/werift/srtcp.js';

const PROFILES = [
  { name: 'AEAD_AES_128_GCM', profile: AEAD_AES_128_GCM, saltLength: 12 },
  { name: 'AES_CM_128_HMAC_SHA1_80', profile: AES_CM_128_HMAC_SHA1_80, saltLength: 14 },
];

const VIEWER_SSRC = 0x0badcafe;
const MEDIA_SSRC = 0x1234abcd;

/**
 * What a libwebrtc viewer sends (receiver report with REMB; NACK; a receiver report from its audio
 * side's SSRC) and what the relay sends (SR + SDES): four senders, each with its own indices.
 */
function reports(): Buffer[] {
  const rr = new RtcpRrPacket({
    ssrc: VIEWER_SSRC,
    reports: [new RtcpReceiverInfo({ ssrc: MEDIA_SSRC, fractionLost: 3, packetsLost: 12, highestSequence: 70000, jitter: 40, lsr: 0x12345678, dlsr: 900 })],
  });
  const remb = new RtcpPayloadSpecificFeedback({
    feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc: VIEWER_SSRC, mediaSsrc: 0, bitrate: 2_500_000n, ssrcFeedbacks: [MEDIA_SSRC] }),
  });
  const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: VIEWER_SSRC + 1, mediaSourceSsrc: MEDIA_SSRC, lost: [100, 101, 105, 130] }) });
  const sr = new RtcpSrPacket({
    ssrc: MEDIA_SSRC,
    senderInfo: new RtcpSenderInfo({ ntpTimestamp: 0xe1234567_89abcdefn, rtpTimestamp: 123456, packetCount: 9000, octetCount: 8_000_000 }),
  });
  const sdes = new RtcpSourceDescriptionPacket({
    chunks: [new SourceDescriptionChunk({ source: MEDIA_SSRC, items: [new SourceDescriptionItem({ type: 1, text: 'lancast' })] })],
  });
  return [
    Buffer.concat([rr.serialize(), remb.serialize()]),
    nack.serialize(),
    Buffer.concat([sr.serialize(), sdes.serialize()]),
    new RtcpRrPacket({ ssrc: VIEWER_SSRC + 2, reports: rr.reports }).serialize(),
  ];
}

/** Indices around the 16-bit boundary the AES-CM counter splits them at, and the last one. */
const INDICES = [1, 2, 1000, 65535, 65536, 65537, 0x7ffffffe];

/**
 * SRTCP with the E flag clear (RFC 3711 3.4, RFC 7714 9.2): the RTCP in the clear, authenticated
 * with the index. werift never sends it; the native side must still accept it as werift does.
 */
function unencrypted(profile: number, keys: SrtcpContext, rtcp: Buffer, index: number): Buffer {
  const word = Buffer.alloc(4);
  word.writeUInt32BE(index);
  if (profile === AES_CM_128_HMAC_SHA1_80) {
    const tag = createHmac('sha1', keys.srtcpSessionAuthTag).update(rtcp).update(word).digest().subarray(0, 10);
    return Buffer.concat([rtcp, word, tag]);
  }
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(rtcp.readUInt32BE(4), 2);
  iv.writeUInt32BE(index, 8);
  for (let i = 0; i < 12; i++) iv[i] ^= keys.srtcpSessionSalt[i];
  const cipher = createCipheriv('aes-128-gcm', keys.srtcpSessionKey, iv);
  cipher.setAAD(Buffer.concat([rtcp, word]));
  cipher.final();
  return Buffer.concat([rtcp, cipher.getAuthTag(), word]);
}

for (const { name, profile, saltLength } of PROFILES) {
  test(`${name}: decrypts what werift encrypts, to the bytes werift decrypts it to, at indices across 16-bit and 31-bit edges`, () => {
    const { viewer, relay, srtcp } = srtcpLegs(profile, saltLength);
    let n = 0;
    for (const index of INDICES) {
      for (const rtcp of reports()) {
        // werift adds one to the index it holds, per sender SSRC.
        srtcpContext(viewer, 'localContext').setIndex(rtcp.readUInt32BE(4), index - 1);
        const packet = viewer.encrypt(rtcp);
        const trailer = profile === AEAD_AES_128_GCM ? packet.readUInt32BE(packet.length - 4) : packet.readUInt32BE(rtcp.length);
        assert.equal(trailer, (0x80000000 | index) >>> 0, 'werift set the E flag and the index');
        const plain = native!.unprotectRtcp(srtcp, packet);
        assert.ok(plain, `index ${index} did not decrypt`);
        assert.deepEqual(plain, rtcp);
        assert.deepEqual(plain, relay.decrypt(packet), 'the same bytes as werift');
        n++;
      }
    }
    assert.deepEqual(native!.srtcpStats(srtcp).slice(0, 2), [n, 0]);
  });

  test(`${name}: encrypts byte for byte as werift does with the same index, and werift decrypts it`, () => {
    const { viewer, relay, srtcp } = srtcpLegs(profile, saltLength, 65533);
    let index = 65533;
    for (const rtcp of [...reports(), ...reports()]) {
      index++;
      const packet = native!.protectRtcp(srtcp, rtcp);
      assert.ok(packet);
      srtcpContext(relay, 'localContext').setIndex(rtcp.readUInt32BE(4), index - 1);
      assert.deepEqual(packet, relay.encrypt(rtcp), `index ${index}: not what werift sends`);
      assert.deepEqual(viewer.decrypt(packet), rtcp);
    }
    assert.deepEqual(native!.srtcpStats(srtcp).slice(2, 4), [8, 65533 + 8], 'one index per packet, on from the last werift sent');
  });

  test(`${name}: a packet sent with the E flag clear authenticates and comes out as sent; tampered, it is refused`, () => {
    const { relay, srtcp, into } = srtcpLegs(profile, saltLength);
    for (const [i, rtcp] of reports().entries()) {
      const packet = unencrypted(profile, into, rtcp, 10 + i);
      assert.deepEqual(relay.decrypt(packet), rtcp, 'werift accepts it');
      const tampered = Buffer.from(packet);
      tampered[12] ^= 0x40;
      assert.equal(native!.unprotectRtcp(srtcp, tampered), null);
      assert.deepEqual(native!.unprotectRtcp(srtcp, packet), rtcp);
    }
  });

  test(`${name}: forged, truncated, replayed and too old packets are refused and change nothing`, () => {
    const { viewer, srtcp } = srtcpLegs(profile, saltLength);
    const [rr] = reports();
    const local = srtcpContext(viewer, 'localContext');
    const at = (index: number) => {
      local.setIndex(VIEWER_SSRC, index - 1);
      return viewer.encrypt(rr);
    };
    const accepted = (packet: Buffer, why: string) => assert.deepEqual(native!.unprotectRtcp(srtcp, packet), rr, why);
    const refused = (packet: Buffer, why: string) => assert.equal(native!.unprotectRtcp(srtcp, packet), null, why);

    accepted(at(200), 'the first packet');
    refused(at(200), 'the same index again');
    // A forged packet far ahead, and from other senders (more than the window state has room
    // for): were any of them taken, index 199 would be too old or its sender's state evicted.
    const forged = at(100_000);
    forged[forged.length - 1] ^= 1;
    refused(forged, 'a forged tag');
    for (let i = 0; i < 20; i++) {
      const stranger = Buffer.from(forged);
      stranger.writeUInt32BE(i + 1, 4);
      refused(stranger, 'a forged sender');
    }
    refused(at(300).subarray(0, 14), 'truncated below header, index and tag');
    refused(at(300).subarray(0, at(300).length - 1), 'one byte short');
    refused(Buffer.from('not RTCP, not at all, really'), 'not RTCP');
    accepted(at(199), 'an older index in the window, not seen yet');
    refused(at(199), 'and not twice');
    accepted(at(263), 'ahead of the window by 63');
    refused(at(199), 'now 64 behind the newest: too old to tell, refused');
    accepted(at(200 + 1000), 'far ahead');
    refused(at(263), 'well behind');
    assert.deepEqual(native!.srtcpStats(srtcp).slice(0, 2), [4, 28]);
  });
}

test('an egress or ingress handle is not taken as an SRTCP one, nor the other way', () => {
  const { srtcp } = srtcpLegs(AEAD_AES_128_GCM, 12);
  const ingress = native!.ingress(AEAD_AES_128_GCM, randomBytes(16), randomBytes(12), null);
  assert.throws(() => native!.unprotectRtcp(ingress, Buffer.alloc(40)));
  assert.throws(() => native!.protectRtcp({}, Buffer.alloc(40)));
  assert.throws(() => native!.unprotect(srtcp, Buffer.alloc(40)));
  assert.deepEqual(native!.stats(srtcp), [0, 0, 0]);
});

/** Two connected werift peers; the first sends video to the second. */
async function connectedPair() {
  installWeriftPatches();
  const config = iceConfig({ host: '127.0.0.1', iceServers: [] });
  const sender = new RTCPeerConnection(config);
  const receiver = new RTCPeerConnection(config);
  const track = new MediaStreamTrack({ kind: 'video' });
  const transceiver = sender.addTransceiver(track, { direction: 'sendonly' });
  await connectPair(sender, receiver);
  return { sender, receiver, rtpSender: transceiver.sender };
}

const until = async (what: () => boolean, label: string) => {
  for (let i = 0; i < 300 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(what(), label);
};

test("a connected leg's SRTCP is swapped both ways: its reports reach werift's peer and the peer's reach it, at indices above werift's", async () => {
  const { sender, receiver, rtpSender } = await connectedPair();
  try {
    const plis: number[] = [];
    (rtpSender).onPictureLossIndication.subscribe(() => plis.push(Date.now()));
    const srs: number[] = [];
    receiver.getTransceivers()[0].receiver.onRtcp.subscribe((p) => p.type === RtcpSrPacket.type && srs.push((p).senderInfo.packetCount));
    const pli = () => receiver.getTransceivers()[0].receiver.sendRtcpPLI(rtpSender.ssrc);
    // werift's own SRTCP first, so the native side has an index to go on from.
    await pli();
    await until(() => plis.length === 1, 'werift to werift');

    const [before] = connectedSrtcp(receiver);
    assert.ok(before.lastIndexSent >= 1, `werift's index so far: ${before.lastIndexSent}`);
    assert.equal(useNativeSrtcp(receiver), true, 'the receiving leg was swapped');
    assert.equal(useNativeSrtcp(receiver), true, 'a second call finds it swapped');
    assert.equal(connectedSrtcp(receiver)[0].replaced, true);
    assert.equal(connectedSrtcp(sender)[0].replaced, false, 'the other peer is werift alone');

    // Native encrypt, werift decrypt: a PLI to the sender.
    await pli();
    await pli();
    await until(() => plis.length === 3, 'PLIs protected natively reach werift');

    // werift encrypt, native decrypt: sender reports (and a datagram sent twice counts once).
    const packets: Buffer[] = [];
    const dtls = rtpSender.dtlsTransport as unknown as { sendRtcp(p: RtcpSrPacket[]): Promise<void>; iceTransport: { connection: { send(b: Buffer): Promise<void> } } };
    const connection = dtls.iceTransport.connection;
    const send = connection.send.bind(connection);
    connection.send = (b: Buffer) => {
      packets.push(b);
      return send(b);
    };
    for (let i = 1; i <= 3; i++) await dtls.sendRtcp([new RtcpSrPacket({ ssrc: rtpSender.ssrc, senderInfo: new RtcpSenderInfo({ ntpTimestamp: 0n, rtpTimestamp: 0, packetCount: i, octetCount: 0 }) })]);
    await until(() => srs.length === 3, 'sender reports decrypted natively reach werift');
    await send(packets.at(-1)!);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(srs, [1, 2, 3], 'the replayed report was dropped (werift alone would take it again)');
  } finally {
    await Promise.all([sender.close(), receiver.close()]);
  }
});
