/**
 * Two werift peer connections in one process, connected to each other (offer, answer, both
 * gathered, both `connected`): the smallest real leg for unit tests of what lancast swaps into
 * werift's SRTP, SRTCP and receive path.
 */
import type { RTCPeerConnection } from 'werift';
import { gatherComplete } from '../../src/relay/sdp.js';

const connected = (pc: RTCPeerConnection) => new Promise<void>((resolve) => pc.connectionStateChange.subscribe((state) => state === 'connected' && resolve()));

/** Offer from `offerer`, answer from `answerer`, and wait until both are connected. */
export async function connectPair(offerer: RTCPeerConnection, answerer: RTCPeerConnection): Promise<void> {
  const both = Promise.all([connected(offerer), connected(answerer)]);
  await offerer.setLocalDescription(await offerer.createOffer());
  await gatherComplete(offerer);
  await answerer.setRemoteDescription(offerer.localDescription!);
  await answerer.setLocalDescription(await answerer.createAnswer());
  await gatherComplete(answerer);
  await offerer.setRemoteDescription(answerer.localDescription!);
  await both;
}
