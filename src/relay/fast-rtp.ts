/**
 * werift reads every RTP header's bit fields by printing the byte as a binary string, splitting it
 * into characters, padding, joining and parsing it back (`getBit`), and grows the extension list
 * by copying it for each extension. For a publisher's 2.5 Mbit/s that was about an eighth of the
 * main thread's receive work. This module replaces `RtpHeader.deSerialize` (werift calls it
 * through the class, so the replacement is what werift runs) with one that reads the same fields
 * with shifts and masks and returns the same header: same values, same extension slices, same
 * exceptions for a packet too short to hold a header. Imported for its effect by every module that
 * makes werift peer connections.
 */
import { RtpHeader } from 'werift';

const ONE_BYTE_PROFILE = 0xbede;
const TWO_BYTE_PROFILE = 0x1000;

interface Extension {
  id: number;
  payload: Buffer;
}

export const weriftDeSerialize = RtpHeader.deSerialize.bind(RtpHeader);

export function deSerializeRtpHeader(raw: Buffer): RtpHeader {
  const h = new RtpHeader();
  const b0 = raw[0]!;
  const b1 = raw[1]!;
  h.version = b0 >> 6;
  h.padding = (b0 & 0x20) !== 0;
  h.extension = (b0 & 0x10) !== 0;
  h.csrcLength = b0 & 0x0f;
  h.marker = (b1 & 0x80) !== 0;
  h.payloadType = b1 & 0x7f;
  h.sequenceNumber = raw.readUInt16BE(2);
  h.timestamp = raw.readUInt32BE(4);
  h.ssrc = raw.readUInt32BE(8);
  let offset = 12;
  const csrc: number[] = [];
  for (let i = 0; i < h.csrcLength; i++, offset += 4) csrc.push(raw.readUInt32BE(offset));
  h.csrc = csrc;
  if (h.extension) {
    h.extensionProfile = raw.readUInt16BE(offset) as RtpHeader['extensionProfile'];
    const length = raw.readUInt16BE(offset + 2) * 4;
    h.extensionLength = length;
    offset += 4;
    const end = offset + length;
    const extensions: Extension[] = [];
    if (h.extensionProfile === ONE_BYTE_PROFILE) {
      // RFC 8285 4.2: ID in the high nibble, length - 1 in the low; 0 is padding, 15 ends the list.
      while (offset < end) {
        const b = raw[offset]!;
        if (b === 0) {
          offset++;
          continue;
        }
        offset++;
        if (b >> 4 === 15) break;
        const len = (b & 0x0f) + 1;
        extensions.push({ id: b >> 4, payload: raw.subarray(offset, offset + len) });
        offset += len;
      }
    } else if (h.extensionProfile === TWO_BYTE_PROFILE) {
      // RFC 8285 4.3: one byte of ID, one of length.
      while (offset < end) {
        const id = raw[offset]!;
        if (id === 0) {
          offset++;
          continue;
        }
        const len = raw[offset + 1]!;
        offset += 2;
        extensions.push({ id, payload: raw.subarray(offset, offset + len) });
        offset += len;
      }
    } else {
      const payload = raw.subarray(offset, offset + length);
      extensions.push({ id: 0, payload });
      offset += payload.length;
    }
    h.extensions = extensions;
  }
  h.payloadOffset = offset;
  if (h.padding) h.paddingSize = raw[raw.length - 1]!;
  return h;
}

RtpHeader.deSerialize = deSerializeRtpHeader;
