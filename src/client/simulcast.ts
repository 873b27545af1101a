/**
 * Simulcast to the relay (issue 15): the broadcast page's upload to a relayed room carries its
 * video as up to three encodings (full, 1/2 and 1/4 resolution), so the relay can give each
 * viewer the one its link carries. A p2p connection is already adapted by libwebrtc per viewer
 * and sends one encoding.
 *
 * Screen sharing of text (contentHint 'detail' or 'text') sends one encoding: a slide or code at
 * half or quarter size is unreadable, so a smaller layer would only trade legibility for a
 * picture nobody can use, and a mostly still screen costs little bandwidth anyway. A screen shared
 * for motion (contentHint 'motion') is simulcast like a camera.
 */

/** Encodings from the lowest layer up: RFC 8853 rids, how far each is scaled down, its share of the bitrate. */
export const SIMULCAST_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 4, share: 0.1 },
  { rid: 'h', scaleResolutionDownBy: 2, share: 0.3 },
  { rid: 'f', scaleResolutionDownBy: 1, share: 1 },
] as const;

/** No layer is asked to send less than this (bits per second): below it a small picture breaks up. */
const MIN_LAYER_BITRATE = 100_000;

/** Whether a video track suits simulcast (see above). */
export function simulcastSuits(track: MediaStreamTrack): boolean {
  return track.kind === 'video' && track.contentHint !== 'detail' && track.contentHint !== 'text';
}

/** The sendEncodings of a simulcast video sender. */
export function simulcastEncodings(): RTCRtpEncodingParameters[] {
  return SIMULCAST_LAYERS.map(({ rid, scaleResolutionDownBy }) => ({ rid, scaleResolutionDownBy, active: true }));
}

/** An encoding's share of a sender's bitrate: all of it without simulcast, its layer's share with. */
export function encodingBitrate(encoding: RTCRtpEncodingParameters, maxBitrate: number): number {
  const layer = SIMULCAST_LAYERS.find((l) => l.rid === encoding.rid);
  return layer ? Math.max(MIN_LAYER_BITRATE, Math.round(maxBitrate * layer.share)) : maxBitrate;
}
