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

/**
 * In a BUNDLE group the transport is the tagged (first) section's: its ICE credentials and its
 * candidates (RFC 8843 §7.1-7.2). aiortc gives every bundled section of its offer its own
 * ufrag, password and port (one ICE agent each, until the answer bundles them); werift applies
 * each section's credentials to the one bundled transport in turn, the last one wins, and every
 * connectivity check then fails MESSAGE-INTEGRITY. Sections of the group with other credentials
 * get the tagged section's, and lose their candidates (they belong to agents the offerer drops).
 * Browsers' SDPs, with one set of credentials, are returned unchanged.
 */
export function bundledTransport(sdp: string): string {
  const group = /^a=group:BUNDLE +(.+?)\r?$/m.exec(sdp)?.[1]?.trim().split(/ +/);
  if (!group || group.length < 2) return sdp;
  const { eol, parts } = sections(sdp);
  const midOf = (part: string) => /^a=mid:(\S+)\r?$/m.exec(part)?.[1];
  const tagged = parts.slice(1).find((part) => midOf(part) === group[0]);
  const ufrag = tagged && /^a=ice-ufrag:.*$/m.exec(tagged)?.[0].trimEnd();
  const pwd = tagged && /^a=ice-pwd:.*$/m.exec(tagged)?.[0].trimEnd();
  if (!tagged || !ufrag || !pwd) return sdp;
  return parts
    .map((part, i) => {
      const own = /^a=ice-ufrag:.*$/m.exec(part)?.[0].trimEnd();
      if (i === 0 || part === tagged || !group.includes(midOf(part) ?? '') || own === undefined || own === ufrag) return part;
      return part
        .split(/\r?\n/)
        .filter((line) => !line.startsWith('a=candidate:'))
        .map((line) => (line.startsWith('a=ice-ufrag:') ? ufrag : line.startsWith('a=ice-pwd:') ? pwd : line))
        .join(eol);
    })
    .join(eol);
}
