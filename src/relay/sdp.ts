/** Small SDP helpers for the relay's legs. */
import type { RTCPeerConnection } from 'werift';

/** Wait until the relay has gathered its candidates (host candidates: a few ms on a LAN). */
export function gatherComplete(pc: RTCPeerConnection, timeoutMs = 3_000): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') done();
    });
    function done() {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}

/** Media sections of an SDP, e.g. ['audio', 'video']. */
export function mediaKinds(sdp: string): string[] {
  return [...sdp.matchAll(/^m=(\w+) /gm)].map((m) => m[1]!);
}
