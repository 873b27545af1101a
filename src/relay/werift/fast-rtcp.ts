/**
 * werift parses every RTCP packet's first byte (version, padding, count) through `getBit`, which
 * prints the byte as a binary string and parses it back: each viewer's receiver reports, REMB and
 * NACKs pass here, a few a second per viewer. The replacement reads the same fields with shifts
 * and masks and returns the same header (same values, same RangeError for a packet too short).
 */
import { RtcpHeader } from 'werift';
import { replaceMethod, type PatchTarget, type WeriftPatch } from './patch.js';

export function deSerializeRtcpHeader(buf: Buffer): RtcpHeader {
  const length = buf.readUInt16BE(2); // throws on a short buffer, as werift's reader does
  const b0 = buf[0];
  return new RtcpHeader({ version: b0 >> 6, padding: (b0 & 0x20) !== 0, count: b0 & 0x1f, type: buf[1], length });
}

const deSerialize: PatchTarget = {
  name: 'RtcpHeader.deSerialize',
  owner: RtcpHeader,
  key: 'deSerialize',
  arity: 1,
  // The slow parse this replaces; a werift that parses otherwise needs measuring again.
  source: [/getBit\(v_p_rc, 0, 2\)/],
};

export const fastRtcpHeader: WeriftPatch = {
  name: 'fast-rtcp-header',
  wrong: 'werift parses each RTCP header bit field through a binary string (toString(2), split, join, parseInt)',
  upstream: 'docs/upstream/werift-rtcp-header-parse.md',
  targets: [deSerialize],
  apply() {
    replaceMethod<(buf: Buffer) => RtcpHeader>(this.name, deSerialize, () => deSerializeRtcpHeader);
  },
};
