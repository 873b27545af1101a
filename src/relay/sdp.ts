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

/**
 * werift lists its RTCP sender SSRCs (with an RTX group) in receive-only sections; older
 * libwebrtc (e.g. @roamhq/wrtc) reads two SSRCs without an msid as two tracks and rejects the
 * answer. A receiver's SSRCs carry nothing the other side needs, so leave them out.
 */
export function stripRecvonlySsrcs(sdp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const sections = sdp.split(/\r?\nm=/);
  return sections
    .map((section, i) => {
      if (i === 0 || !/\r?\na=recvonly(\r?\n|$)/.test(section)) return section;
      return section
        .split(/\r?\n/)
        .filter((line) => !line.startsWith('a=ssrc:') && !line.startsWith('a=ssrc-group:'))
        .join(eol);
    })
    .join(`${eol}m=`);
}

/**
 * werift echoes the publisher's own feedback list, transport-cc included. With transport-cc the
 * browser runs its sender-side estimator, which starves without werift's feedback; without it,
 * the browser follows the relay's REMB and climbs to full quality.
 */
export function withoutTransportCc(sdp: string): string {
  return sdp.replace(/^a=rtcp-fb:\d+ transport-cc\r?\n/gm, '');
}

/** An SDP split at its m= lines: the session part, then one string per media section. */
function sections(sdp: string): { eol: string; parts: string[] } {
  return { eol: sdp.includes('\r\n') ? '\r\n' : '\n', parts: sdp.split(/\r?\n(?=m=)/) };
}

/**
 * werift answers a section it will not use with port 0, which rejects it (RFC 3264 §6); when that
 * is the BUNDLE group's tagged section (a player's audio, in a video-only room), libwebrtc then
 * refuses the whole answer ("The m= section with mid='1' should be rejected"). A section the
 * offerer did not reject and the relay merely has nothing to send on is accepted `inactive`, as a
 * browser answers it: port 9, still in the group.
 */
export function inactiveNotRejected(answerSdp: string, offerSdp: string): string {
  const offered = sections(offerSdp).parts.slice(1);
  const { eol, parts } = sections(answerSdp);
  return parts
    .map((part, i) => {
      const offer = offered[i - 1];
      if (i === 0 || !offer || !/^m=\S+ 0 /.test(part) || !/^a=inactive\r?$/m.test(part)) return part;
      if (/^m=\S+ 0 /.test(offer) && !/^a=bundle-only\r?$/m.test(offer)) return part; // the offerer rejected it
      return part.replace(/^(m=\S+) 0 /, '$1 9 ');
    })
    .join(eol);
}
