/**
 * werift as the other side of a test: a WHIP publisher or WHEP player whose packets the test
 * chooses. It runs werift as the relay does (src/relay/werift/), so it asks no public STUN server,
 * and gathers on 127.0.0.1 only.
 */
import assert from 'node:assert/strict';
import { RTCPeerConnection, RTCRtpCodecParameters, type PeerConfig } from 'werift';
import { installWeriftPatches } from '../../src/relay/werift/index.js';

installWeriftPatches();

export const PEER: Partial<PeerConfig> = {
  codecs: {
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] })],
  },
  iceServers: [],
  iceInterfaceAddresses: { udp4: '127.0.0.1' },
  iceAdditionalHostAddresses: ['127.0.0.1'],
  iceUseIpv6: false,
};

async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise<void>((resolve) => pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve()));
}

/** POST the offer of `pc` to `url` (WHIP or WHEP); expect 201, apply the answer and return it. */
export async function exchange(pc: RTCPeerConnection, url: string, key?: string): Promise<{ answer: string; location: string }> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: pc.localDescription!.sdp,
  });
  const answer = await res.text();
  assert.equal(res.status, 201, answer);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return { answer, location: new URL(res.headers.get('location')!, url).href };
}

/** The relay leg's UDP port (its host candidate on 127.0.0.1) and ICE credentials in an SDP answer. */
export function relayLeg(sdp: string): { port: number; ufrag: string; pwd: string } {
  const port = /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host/m.exec(sdp)?.[1];
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
  const pwd = /^a=ice-pwd:(\S+)/m.exec(sdp)?.[1];
  assert.ok(port && ufrag && pwd, `no 127.0.0.1 host candidate or ICE credentials in the answer:\n${sdp}`);
  return { port: Number(port), ufrag, pwd };
}
