/**
 * werift's ICE transport hands every datagram it receives to the STUN parser first, media
 * included, and passes it on as data only when the parser gives up. The parser's first test
 * (isStunMessage) rejects a datagram shorter than a STUN header or whose first two bits are not
 * zero: every RTP, RTCP and DTLS packet (RFC 7983: STUN's first byte is 0-3). The replacement
 * makes that test itself and passes such a datagram on as werift would, without the parse;
 * everything else goes to werift's own datagramReceived.
 */
import { isStunMessage, StunProtocol } from 'werift';
import { replaceMethod, type PatchTarget, type WeriftPatch } from './patch.js';

/** A STUN header's length (RFC 5389 §6). */
const STUN_HEADER = 20;

interface Protocol {
  localCandidate?: unknown;
  onDataReceived: { execute(data: Buffer): void };
}
type DatagramReceived = (this: Protocol, data: Buffer, addr: [string, number]) => void;

/** Whether werift's STUN parser would refuse `data` at its first test (so it is not STUN). */
export function notStun(data: Buffer): boolean {
  return data.length < STUN_HEADER || (data[0] & 0xc0) !== 0;
}

const datagramReceived: PatchTarget = {
  name: 'StunProtocol.prototype.datagramReceived',
  owner: StunProtocol.prototype,
  key: 'datagramReceived',
  arity: 2,
  // What werift does with a datagram that does not parse as STUN.
  source: [/const message = parseMessage\(data\);\s*if \(!message\) \{\s*if \(this\.localCandidate\) \{\s*this\.onDataReceived\.execute\(data\);\s*\}\s*return;\s*\}/],
};

/** The first test of werift's isStunMessage, the one notStun makes. */
const FIRST_TEST = /^function isStunMessage\(data\) \{\s*if \(data\.length < HEADER_LENGTH\) \{\s*return false;\s*\}\s*if \(\(data\[0\] & 192\) !== 0\) \{\s*return false;\s*\}/;

export const stunPrecheck: WeriftPatch = {
  name: 'stun-precheck',
  wrong: 'werift runs the STUN parser on every datagram its ICE transport receives, media included, before passing it on as data',
  upstream: 'docs/upstream/werift-stun-precheck.md',
  targets: [datagramReceived],
  precondition: () => (FIRST_TEST.test(isStunMessage.toString()) ? undefined : `isStunMessage no longer starts with ${FIRST_TEST}`),
  apply() {
    replaceMethod<DatagramReceived>(this.name, datagramReceived, (original) =>
      function (this: Protocol, data, addr) {
        if (!notStun(data)) return original.call(this, data, addr);
        try {
          if (this.localCandidate) this.onDataReceived.execute(data);
        } catch {
          // werift catches a subscriber's error here too, and only logs it (DEBUG=werift-ice*).
        }
      },
    );
  },
};
